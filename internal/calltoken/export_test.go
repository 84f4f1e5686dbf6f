package calltoken

import "time"

// SetMemoryClock makes s read the time from now.
func SetMemoryClock(s *MemoryReplayStore, now func() time.Time) { s.now = now }

// SetMemoryMax bounds s to max live entries.
func SetMemoryMax(s *MemoryReplayStore, max int) { s.max = max }
