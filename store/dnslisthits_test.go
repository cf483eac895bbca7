package store

import (
	"io"
	"log/slog"
	"maps"
	"testing"
	"time"

	"github.com/authsmtp/authsmtp/store/kv"
)

// DNS list hits are counted per zone and day in the store: they survive
// a restart, and old days count for all days but not for the last ones.
func TestDNSListHitsSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	open := func() *Store {
		s, err := Open(dir, Options{NoSync: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	s := open()
	for _, z := range []string{"bl.test", "bl.test", "wl.test", "bl.test"} {
		if err := s.CountDNSListHit(z); err != nil {
			t.Fatal(err)
		}
	}
	// A hit ten days ago, written as CountDNSListHit would have then.
	if err := s.db.Update(func(tx kv.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketDNSListHits)
		if err != nil {
			return err
		}
		return b.Put(dnsListHitKey("bl.test", time.Now().AddDate(0, 0, -10)), []byte{0, 0, 0, 0, 0, 0, 0, 5})
	}); err != nil {
		t.Fatal(err)
	}
	check := func(s *Store) {
		t.Helper()
		for days, want := range map[int]map[string]int64{
			0: {"bl.test": 8, "wl.test": 1},
			1: {"bl.test": 3, "wl.test": 1},
			7: {"bl.test": 3, "wl.test": 1},
		} {
			got, err := s.DNSListHits(days)
			if err != nil || !maps.Equal(got, want) {
				t.Errorf("DNSListHits(%d) = %v, %v; want %v", days, got, err, want)
			}
		}
	}
	check(s)
	s.Close()
	s = open()
	defer s.Close()
	check(s)
	if err := s.CountDNSListHit("bl.test"); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.DNSListHits(1); got["bl.test"] != 4 {
		t.Errorf("after the restart, today's bl.test count went on from %d", got["bl.test"])
	}
}

// The counts kept in memory (tally.go) and those written show once each,
// before and after a flush.
func TestTallyFlushCountsOnce(t *testing.T) {
	s, err := Open(t.TempDir(), Options{NoSync: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	check := func(hits, refused int64) {
		t.Helper()
		got, err := s.DNSListHits(1)
		if err != nil || got["bl.test"] != hits {
			t.Errorf("DNSListHits = %v, %v; want %d", got, err, hits)
		}
		days, err := s.SpamStats("a.test", 2)
		if err != nil || int64(days[1].Refused) != refused || days[0].Refused != 0 {
			t.Errorf("SpamStats = %+v, %v; want %d refused today", days, err, refused)
		}
	}
	for range 3 {
		s.CountDNSListHit("bl.test")
		s.CountRefused("a.test")
	}
	check(3, 3)
	if err := s.flushTally(); err != nil {
		t.Fatal(err)
	}
	check(3, 3)
	s.CountDNSListHit("bl.test")
	s.CountRefused("a.test")
	check(4, 4)
	if err := s.flushTally(); err != nil {
		t.Fatal(err)
	}
	check(4, 4)
}
