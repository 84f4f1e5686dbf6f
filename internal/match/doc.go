// Package match decides whether an identifier of a notice names one of a
// set of rows, by which rule and how strongly: DESIGN.md's matching table
// made executable. The agent builds two indexes with it: one over its
// customer list (rows from customer sources) and one over the identifiers
// of active notices (so that notices join each other on strong
// identifiers, whatever order they arrive in).
//
// The contract:
//
//   - Rows and notices meet in one normal form: [NormalizeRow] uses the
//     normalisers of package notice (Host, Prefix, ASN, Email,
//     Organisation, Registration, Hashed) and [Build] refuses, as a
//     [*RowError] naming source, line, field and value, any row they
//     refuse. Bad rows are left out; the others are indexed.
//   - An [Index] is immutable once built and safe for any number of
//     concurrent readers; the agent swaps a new one in atomically.
//   - Every [Match] says which notice identifier matched (Identifier), which
//     source row (Row), by which [Rule] and how strongly ([Strength]),
//     and, when a rule's strong match was weakened, why (Weakened).
//   - The same index and the same input give the same matches in the same
//     order, whatever the order of the rows given to Build.
//   - Work per identifier is bounded: O(log n) map and prefix-table probes,
//     plus at most Config.MaxMatchesPerIdentifier matches (then one
//     too-many-matches summary), plus, for a notice prefix, a walk of at
//     most 4,096 customer prefixes inside it. A notice /16 over 40,000
//     customer addresses yields one weak broad-prefix match that names the
//     count; it never lists them.
//   - A match whose row belongs to the notice's issuer (Row.Member ==
//     Query.Issuer) is dropped.
//   - Package match never touches the network.
//
// The rules (DESIGN.md, "Identifiers and matching"):
//
//   - host: same host (strong). With D the registrable domain of the
//     notice's host h (computed at match time from the A-label by
//     notice.RegistrableDomain): when h is D, rows under D (strong,
//     under-notice-domain); a row that is a parent of h, D included (weak,
//     under-customer-domain); other rows under D (weak, sibling). On or
//     under a shared domain (the built-in platforms of
//     [BuiltinSharedDomains], Config.SharedDomains, this provider's own
//     domains and every member's domains) only the exact host matches,
//     on either side.
//   - address: the longest customer prefix that contains the notice's
//     (strong, prefix-covers), shorter ones as Context; customer prefixes
//     inside the notice's (strong, prefix-within, only when the notice's
//     prefix is IPv4 /24 or IPv6 /48 or longer and they belong to at most
//     Config.BroadPrefixMaxCustomers customers; otherwise one weak
//     broad-prefix summary). An address observed longer ago than
//     Config.ObservationMaxAge, or observed by DNS only, matches weakly.
//   - asn: holder equal (strong); origin weak, strong in MatchEntity when
//     an address of the same entity matches the same customer strongly;
//     never an origin match on this provider's, a member's or a transit
//     ASN.
//   - email: same address (strong); same domain (weak), never a mailbox
//     provider's ([BuiltinMailboxProviders], Config.MailboxProviders) or
//     an own or member domain.
//   - organisation: equal key (weak, always).
//   - registration: equal (strong). Rows write it "lei:<LEI>",
//     "company:<CC>:<number>", "vat:<id>", "rir:<handle>".
//   - hashed: equal under a configured key (Config.HashKeys: keys not
//     retired) (strong; phone weak). Rows are hashed under every key
//     (notice.HashInput over their normal form; prefixes as type
//     "address", phones in E.164), and a row that holds only a hash meets
//     a notice's plain value hashed the same way. A hash under any other
//     key id matches nothing.
//   - member: the entity's member id equals a member row or the member id
//     of an owner's rows (strong).
//
// Decisions beyond the letter of DESIGN.md:
//
//   - One match per owner per identifier: the best (strongest, then by
//     rule); the owner's other rows that matched are listed in Context.
//     Ten rows of one customer under one domain are one match to act on,
//     not ten.
//   - A covering prefix held by more than Config.BroadPrefixMaxCustomers
//     customers (a shared hosting address) yields one weak shared-prefix
//     summary, not a strong match per customer; likewise a registrable
//     domain under which more than that many customers hold names is a
//     platform in all but name: one weak broad-domain summary replaces the
//     per-customer domain matches (the exact host still matches strongly).
//   - A row whose ValidFrom is after the identifier's observation matches
//     weakly: the address was someone else's when it was seen. Likewise an
//     address with role assigned whose assigned_until has passed: it may
//     have gone to an innocent customer since.
//   - A hashed organisation name matches weakly, as it does in the clear.
//   - A hashed row under a key id that is not configured is refused
//     ([ErrUnknownKey]) rather than kept silently unable to match.
//   - Broad-prefix counts: up to 4,096 customer prefixes inside the notice
//     prefix are walked and distinct customers counted exactly; beyond
//     that, Customers is the number of customer prefixes inside (found by
//     binary search over the prefixes sorted by address; an upper bound on
//     customers, since each holds at least one), and the Context says so.
//     The bart table answers the covering (supernet) questions; the
//     containment question uses that sorted array, because it counts
//     without walking.
//   - Summaries (broad-prefix, broad-domain, shared-prefix,
//     too-many-matches, own-space) have an empty Owner and a Customers
//     count.
//   - In the notice index, rows stand for notice entities; the agent adds
//     only holder ASNs there (an origin ASN is not an entity's own
//     identifier) and keeps only the strong rules for joins.
package match
