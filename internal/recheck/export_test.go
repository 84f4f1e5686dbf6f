package recheck

import "net/netip"

// Waiters reports how many callers wait for the attempt in flight for
// (host, addr); host in normal form.
func (c *Checker) Waiters(host string, addr netip.Addr) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cl, ok := c.inflight[pair{host, addr.Unmap()}]; ok {
		return cl.waiters
	}
	return 0
}
