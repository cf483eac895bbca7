package store

import (
	"errors"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authsmtp/authsmtp/store/kv"
)

// sharedTestStore opens a store whose throttle and send caps count in the
// database, as on a database several nodes share.
func sharedTestStore(t testing.TB) *Store {
	t.Helper()
	st, err := Open(t.TempDir(), Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Shared: true, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// A counterMode makes fresh counters of one kind: in memory, or in the
// database (each call opens a new database).
type counterMode struct {
	name     string
	caps     func() *SendCaps
	throttle func(ThrottleConfig) *Throttle
}

func counterModes(t *testing.T) []counterMode {
	return []counterMode{
		{"memory", newSendCaps, NewThrottle},
		{"shared", func() *SendCaps { return sharedTestStore(t).Caps }, func(cfg ThrottleConfig) *Throttle {
			th := sharedTestStore(t).Throttle
			th.SetConfig(cfg)
			return th
		}},
	}
}

// otherNode returns a throttle and send caps with nothing in common with
// st's but the database: what a second node on the same database has.
func otherNode(st *Store) (*Throttle, *SendCaps) {
	th := NewThrottle(ThrottleConfig{})
	th.shared = st.Throttle.shared
	c := newSendCaps()
	c.shared = st.Caps.shared
	return th, c
}

// TestSharedThrottleAcrossNodes: failures counted on one node block the
// IP and the login on the other; unblocking and a success on one are seen
// by both.
func TestSharedThrottleAcrossNodes(t *testing.T) {
	st := sharedTestStore(t)
	cfg := ThrottleConfig{BlockAfter: 3, BaseDelay: time.Millisecond, BlockFor: time.Hour}
	a := st.Throttle
	a.SetConfig(cfg)
	b, _ := otherNode(st)
	b.SetConfig(cfg)

	a.Fail("smtp", "192.0.2.1", "john@doe.com")
	b.Fail("imap", "192.0.2.1", "john@doe.com")
	if n := a.Failures("192.0.2.1"); n != 2 {
		t.Fatalf("node A sees %d failures of the IP, want 2 (one from each node)", n)
	}
	if blocked, _ := b.Check("198.51.100.1", "JOHN@doe.com"); blocked {
		t.Fatal("blocked after 2 of 3 failures")
	}
	a.Fail("web", "192.0.2.1", "john@doe.com")
	if blocked, until := b.Check("198.51.100.1", "john@doe.com"); !blocked || time.Until(until) < 59*time.Minute {
		t.Fatalf("node B: login not blocked after 3 failures on A and B (until %v)", until)
	}
	if bl := b.BlockedNow(); len(bl) != 2 || bl[0].Key != "ip:192.0.2.1" || bl[1].Key != "login:john@doe.com" || bl[0].Failures != 3 {
		t.Fatalf("node B blocked list: %+v", bl)
	}
	// Recent failures stay per node (the admin's Security page of a node).
	if len(a.Recent()) != 2 || len(b.Recent()) != 1 {
		t.Fatalf("recent: A %d, B %d", len(a.Recent()), len(b.Recent()))
	}
	if !b.Unblock("login:john@doe.com") || !b.Unblock("ip:192.0.2.1") {
		t.Fatal("unblock on node B")
	}
	if blocked, _ := a.Check("192.0.2.1", "john@doe.com"); blocked {
		t.Fatal("node A still blocks after node B unblocked")
	}

	// A success on B clears the pair's failures made on A, only those.
	a.Fail("smtp", "192.0.2.5", "alice@doe.com")
	a.Fail("smtp", "192.0.2.5", "bob@doe.com")
	b.Succeed("192.0.2.5", "Alice@doe.com")
	if n := a.Failures("192.0.2.5"); n != 1 {
		t.Fatalf("after alice's success on B, A counts %d failures for the IP, want bob's 1", n)
	}
}

// TestSharedSendCapsAcrossNodes: two nodes taking from one login at once
// allow exactly the cap between them.
func TestSharedSendCapsAcrossNodes(t *testing.T) {
	st := sharedTestStore(t)
	_, other := otherNode(st)
	nodes := []*SendCaps{st.Caps, other}
	lim := SendLimits{PerHour: 100, PerDay: 100, RcptsPerDay: 1 << 20}
	var ok atomic.Int64
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				err := nodes[g%2].Take("p@x.test", lim, 2)
				var ce *CapError
				switch {
				case err == nil:
					ok.Add(1)
				case !errors.As(err, &ce):
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	if ok.Load() != 100 {
		t.Fatalf("%d messages allowed on two nodes, want the cap of 100", ok.Load())
	}
	var ce *CapError
	if err := other.Take("p@x.test", lim, 1); !errors.As(err, &ce) || ce.Max != 100 {
		t.Fatalf("over the cap: %v", err)
	}
}

// TestSharedSendLogCompact: a day of sending every 30 s keeps the stored
// record small (hour buckets past the last hour) with exact day totals, the
// same last-hour count as the in-memory log, and a day limit that never
// frees up earlier than the in-memory one.
func TestSharedSendLogCompact(t *testing.T) {
	st := sharedTestStore(t)
	c, mem := st.Caps, newSendCaps()
	lim := SendLimits{PerHour: 1 << 20, PerDay: 1 << 20, RcptsPerDay: 1 << 20}
	t0 := time.Date(2026, 1, 2, 10, 0, 30, 0, time.UTC)
	n := 0
	var end time.Time
	for d := time.Duration(0); d < 24*time.Hour; d += 30 * time.Second {
		end = t0.Add(d)
		if err := c.take(end, "a@x.test", lim, 2); err != nil {
			t.Fatal(err)
		}
		mem.take(end, "a@x.test", lim, 2)
		n++
	}
	stored := func() (*sendLog, int) {
		var raw []byte
		c.shared.view(func(b kv.Bucket) error { raw = append(raw, b.Get([]byte(sendPrefix+"a@x.test"))...); return nil })
		return decodeSendLog(raw), len(raw)
	}
	l, size := stored()
	if l.msgs != n || l.rcpts != 2*n {
		t.Fatalf("stored day: %d msgs %d rcpts, want %d/%d", l.msgs, l.rcpts, n, 2*n)
	}
	if len(l.buckets) > 24+61 || size > 2048 {
		t.Fatalf("a day in %d buckets, %d bytes", len(l.buckets), size)
	}
	got, _ := l.lastHour(end)
	want, _ := mem.sent["a@x.test"].lastHour(end)
	if got != want || want < 100 {
		t.Fatalf("last hour: stored %d, in memory %d", got, want)
	}
	var ce *CapError
	if err := c.take(end, "a@x.test", SendLimits{PerHour: want, PerDay: 1 << 20, RcptsPerDay: 1 << 20}, 1); !errors.As(err, &ce) || ce.Limit != "messages per hour" {
		t.Fatalf("hourly cap over a compacted log: %v", err)
	}
	// Through the next day the stored day count is never below memory's.
	for d := time.Duration(0); d < 25*time.Hour; d += 7 * time.Minute {
		now := end.Add(d)
		l, _ := stored()
		l.expire(now)
		m := *mem.sent["a@x.test"]
		m.buckets = append([]sendBucket(nil), m.buckets...)
		m.expire(now)
		if l.msgs < m.msgs || l.msgs > m.msgs+130 {
			t.Fatalf("at +%v the stored day counts %d, memory %d", d, l.msgs, m.msgs)
		}
	}
}

// BenchmarkSendCapsTakeShared is BenchmarkSendCapsTake with the count in
// the database (bbolt with fsync here): the price of cluster-wide caps
// per message, which the in-memory path of a single node does not pay.
func BenchmarkSendCapsTakeShared(b *testing.B) {
	st, err := Open(b.TempDir(), Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Shared: true})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	big := SendLimits{PerHour: 1 << 30, PerDay: 1 << 30, RcptsPerDay: 1 << 30}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := st.Caps.Take("bench@x.test", big, 1); err != nil {
			b.Fatal(err)
		}
	}
}
