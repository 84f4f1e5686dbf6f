package flood

import "fmt"

// CheckTracked recounts what the bound counts and compares it with the
// running total the Shaper keeps.
func (s *Shaper) CheckTracked() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, w := range s.groups {
		n += 1 + len(w.held)
	}
	for _, w := range s.customers {
		n += len(w.routes)
		withheld := 0
		for _, r := range w.routes {
			if r == routeDigest {
				withheld++
			}
		}
		if withheld != w.withheld {
			return fmt.Errorf("customer window withheld %d, routes say %d", w.withheld, withheld)
		}
	}
	for _, w := range s.integrity {
		n += 1 + len(w.ids)
	}
	if n != s.tracked {
		return fmt.Errorf("tracked %d, recounted %d", s.tracked, n)
	}
	// Stale entries are dropped when a window is scheduled, so between
	// two schedules they stay within a constant factor of the bound.
	limit := 2*(s.cfg.MaxPending+2) + 65
	if len(s.ends) > limit || len(s.order)-s.head > limit {
		return fmt.Errorf("max_pending %d but %d ends and %d order entries", s.cfg.MaxPending, len(s.ends), len(s.order)-s.head)
	}
	return nil
}
