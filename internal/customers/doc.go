// Package customers reads the provider's own customer list, which never
// leaves its premises, from a file or from PostgreSQL, and keeps it
// current for the agent's matching index.
//
// Every source yields rows of one shape, [match.Row]: a customer's id
// (customer_id), its display name (display_name), one identifier (type,
// value), and optionally its headsup member id (member_id) and the time
// the identifier became the customer's (valid_from, RFC 3339). Each row
// also carries a link to the desk's customer page, from a template per
// source with {customer_id} filled in (percent-encoded). Types are
// DESIGN.md's vocabulary, read by [match.ParseType]; values are put into
// the normal form that notices use.
//
// The contract:
//
//   - A list is all or nothing. One bad row (unknown type, a required
//     field missing or empty, a valid_from that is not RFC 3339, a member
//     id that is not one, a value the normaliser refuses, an unknown or
//     repeated column) refuses the whole version with a [*RowError] naming
//     the source, the line (file) or row number (query result), the field
//     and the value; the last good list stays in force. A partial list
//     would silently resolve the alerts of every customer it dropped.
//   - A [Snapshot] is immutable once handed out, and its Version names its
//     content: equal versions are equal lists, so a reload that changes
//     nothing calls nobody.
//   - Run delivers the first good list and then each changed one, to one
//     callback, from one goroutine; it returns nil when its context ends.
//
// [File] reads CSV with a header (columns in any order, names matched
// case-insensitively; a UTF-8 byte order mark is skipped) or JSON lines
// (one flat object per line with the same keys; string values, an integer
// customer_id, null for absent optional keys), chosen by the extension:
// .csv, .jsonl or .ndjson. Columns or keys outside the six names are
// refused, not ignored: a misspelt optional column would otherwise drop its
// data without a word. It reloads on change (watching the parent
// directory, plus a poll for file systems without events) and logs a bad
// version once.
//
// [Postgres] runs a configured query, refreshes it on an interval and,
// with a channel configured, Debounce after a NOTIFY (the window opens at
// the first notification and is not extended, so a stream of them cannot
// postpone the refresh). With an incremental query it applies only the
// rows whose updated_at is newer than the newest seen (less an overlap),
// upserts and tombstones keyed by (customer_id, type, value). It
// reconnects with backoff and reloads the whole list after a reconnect.
// [Postgres.Health] says when the last refresh failed or the list is older
// than three intervals; the agent raises an alarm then.
package customers
