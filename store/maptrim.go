package store

import (
	"time"

	"github.com/authsmtp/authsmtp/store/kv"
)

// bbolt reads every value through its read-only shared mapping of the
// database file. The pages a read touches (bodies fetched, searched,
// backed up) stay in this process's resident set until the kernel needs
// the memory, so the RSS an operator sees grows to the size of the mail
// read since start, not what the server holds: 180 of 190 MiB after one
// SEARCH TEXT over 100 MB of mail. The map trimmer drops those pages from
// the mapping when they pile up; they stay in the page cache, so the next
// read of one is a minor fault, not disk I/O. Nothing is lost: the
// mapping is read-only and backed by the file.

const (
	// mapResidentCap is how much of the mapping may stay resident (over
	// what was resident when the store opened) before it is trimmed.
	mapResidentCap = 8 << 20
	// mapTrimEvery is how often the resident size is checked (a read of
	// /proc/self/statm).
	mapTrimEvery = 50 * time.Millisecond
	// mapFaultAround is what reading one small record costs in resident
	// mapping: Linux maps up to 64 KiB around a faulting page of a file
	// mapping, so reading the 400-byte parses of 512 messages scattered
	// between their bodies mapped in 21 MiB at once.
	mapFaultAround = 64 << 10
)

// mapRead notes n bytes read through the mapping in tx by a scan (FETCH
// of bodies, SEARCH TEXT), and trims the mapping each mapResidentCap
// bytes: a scan reads faster than the trimmer's clock ticks.
func (s *Store) mapRead(tx kv.Tx, n int) {
	if n == 0 || s.mapReads.Add(int64(n)) < mapResidentCap {
		return
	}
	s.mapReads.Store(0)
	// Inside tx: the mapping cannot move (see trimMapping).
	if m, ok := s.base.(kv.Mapped); ok {
		dontNeed(m.Mapping(tx))
	}
}

// startMapTrim checks the resident mapped size every mapTrimEvery until
// the store closes, and trims the mapping when it is over the cap.
func (s *Store) startMapTrim() {
	base, ok := residentFileBytes()
	if !ok {
		return // not Linux, or no /proc: nothing to measure
	}
	go func() {
		t := time.NewTicker(mapTrimEvery)
		defer t.Stop()
		for {
			select {
			case <-s.junkDone: // closed by Close
				return
			case <-t.C:
			}
			if n, ok := residentFileBytes(); ok && n-base > mapResidentCap {
				s.mapReads.Store(0)
				s.trimMapping()
			}
		}
	}()
}

// trimMapping drops the database mapping's pages from the resident set.
// It runs inside a read transaction: bbolt remaps the file only under a
// lock that read transactions hold, so the address range cannot be
// unmapped (and reused) while it is being advised.
func (s *Store) trimMapping() {
	m, ok := s.base.(kv.Mapped)
	if !ok {
		return // no mapping (PostgreSQL)
	}
	s.db.View(func(tx kv.Tx) error {
		dontNeed(m.Mapping(tx))
		return nil
	})
}
