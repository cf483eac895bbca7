package store

import (
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestSendCaps(t *testing.T) {
	for _, mode := range counterModes(t) {
		t.Run(mode.name, func(t *testing.T) { testSendCaps(t, mode.caps()) })
	}
}

func testSendCaps(t *testing.T, c *SendCaps) {
	c.SetDefaults(SendLimits{PerHour: 3, PerDay: 5, RcptsPerDay: 10})
	for i := 0; i < 3; i++ {
		if err := c.Take("doe.com", SendLimits{}, 1); err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
	}
	err := c.Take("doe.com", SendLimits{}, 1)
	var ce *CapError
	if !errors.As(err, &ce) || ce.Limit != "messages per hour" || ce.Max != 3 || time.Until(ce.Reset) > time.Hour || time.Until(ce.Reset) < 59*time.Minute {
		t.Fatalf("over the hourly cap: %v", err)
	}
	if !strings.Contains(err.Error(), "send limit reached for doe.com: 3 messages per hour; resets at ") {
		t.Fatalf("text: %q", err)
	}
	// Each login has its own counter: a user of the domain is not affected.
	if err := c.Take("john@doe.com", SendLimits{}, 1); err != nil {
		t.Fatal(err)
	}
	// A login's own limits win over the defaults.
	if err := c.Take("doe.com", SendLimits{PerHour: 10}, 1); err != nil {
		t.Fatalf("raised per-login cap: %v", err)
	}
	err = c.Take("bulk@doe.com", SendLimits{PerHour: 100}, 11)
	if !errors.As(err, &ce) || ce.Limit != "recipients per day" {
		t.Fatalf("recipients cap: %v", err)
	}
	// A refused message is not counted.
	if err := c.Take("bulk@doe.com", SendLimits{PerHour: 100}, 10); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 4; i++ {
		c.Take("daily@doe.com", SendLimits{PerHour: 100}, 1)
	}
	c.Take("daily@doe.com", SendLimits{PerHour: 100}, 1)
	if err := c.Take("daily@doe.com", SendLimits{PerHour: 100}, 1); !errors.As(err, &ce) || ce.Limit != "messages per day" {
		t.Fatalf("daily cap: %v", err)
	}
}

func TestLimitsFor(t *testing.T) {
	st := authTestStore(t)
	st.AddDomain("doe.com")
	st.AddUser("john@doe.com", "Usr-pass-k9W!q")
	st.UpdateDomain("doe.com", func(d *Domain) error { d.Limits.PerHour = 7; return nil })
	st.UpdateUser("john@doe.com", func(u *User) error { u.Limits.PerDay = 9; return nil })
	if l := st.LimitsFor(Principal{Kind: KindDomain, Domain: "doe.com"}); l.PerHour != 7 {
		t.Fatalf("domain limits %+v", l)
	}
	if l := st.LimitsFor(Principal{Kind: KindUser, Domain: "doe.com", Address: "john@doe.com"}); l.PerDay != 9 || l.PerHour != 0 {
		t.Fatalf("user limits %+v", l)
	}
	if l := st.LimitsFor(Principal{Kind: KindAdmin}); l != (SendLimits{}) {
		t.Fatalf("admin limits %+v", l)
	}
}

// TestSendCapsWindows moves the clock: the hourly count frees up an hour
// after the first message of the hour, the daily ones 24 hours after, and
// a day of sending at one message per second keeps one bucket per minute.
func TestSendCapsWindows(t *testing.T) {
	c := newSendCaps()
	lim := SendLimits{PerHour: 60, PerDay: 100, RcptsPerDay: 1000}
	t0 := time.Date(2026, 1, 2, 10, 0, 30, 0, time.UTC)
	for i := 0; i < 60; i++ {
		if err := c.take(t0.Add(time.Duration(i)*time.Second), "a@x.test", lim, 1); err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
	}
	if n := len(c.sent["a@x.test"].buckets); n != 2 {
		t.Fatalf("60 messages over two clock minutes in %d buckets, want 2", n)
	}
	var ce *CapError
	err := c.take(t0.Add(59*time.Minute), "a@x.test", lim, 1)
	if !errors.As(err, &ce) || ce.Limit != "messages per hour" || !ce.Reset.Equal(t0.Add(time.Hour)) {
		t.Fatalf("within the hour: %v", err)
	}
	// One hour after the first message its whole minute bucket expires
	// from the hour (30 messages); the rest still counts.
	for i := 0; i < 30; i++ {
		if err := c.take(t0.Add(time.Hour), "a@x.test", lim, 1); err != nil {
			t.Fatalf("after the first bucket left the hour, message %d: %v", i, err)
		}
	}
	if err := c.take(t0.Add(time.Hour), "a@x.test", lim, 1); !errors.As(err, &ce) || ce.Limit != "messages per hour" {
		t.Fatalf("second bucket still in the hour: %v", err)
	}
	// 90 sent today; 10 more fit, then the daily cap.
	for i := 0; i < 10; i++ {
		if err := c.take(t0.Add(3*time.Hour), "a@x.test", lim, 1); err != nil {
			t.Fatal(err)
		}
	}
	err = c.take(t0.Add(5*time.Hour), "a@x.test", lim, 1)
	if !errors.As(err, &ce) || ce.Limit != "messages per day" || !ce.Reset.Equal(t0.Add(24*time.Hour)) {
		t.Fatalf("daily cap: %v", err)
	}
	// 24 hours after the first message, the first bucket (30) leaves the day.
	if err := c.take(t0.Add(24*time.Hour), "a@x.test", lim, 1); err != nil {
		t.Fatalf("after a day: %v", err)
	}
	if l := c.sent["a@x.test"]; l.msgs != 71 || l.rcpts != 71 {
		t.Fatalf("day totals %d msgs %d rcpts, want 71/71", l.msgs, l.rcpts)
	}

	// A day at one message a second: 1,440 buckets at most, never 86,400.
	c = newSendCaps()
	big := SendLimits{PerHour: 1 << 30, PerDay: 1 << 30, RcptsPerDay: 1 << 30}
	for i := 0; i < 86400; i++ {
		c.take(t0.Add(time.Duration(i)*time.Second), "b@x.test", big, 1)
	}
	if n := len(c.sent["b@x.test"].buckets); n > 1441 {
		t.Fatalf("%d buckets for one day", n)
	}
}

// TestSendCapsConcurrent: parallel Takes of one login count every message
// exactly once and stop at the cap (run under -race).
func TestSendCapsConcurrent(t *testing.T) {
	c := newSendCaps()
	lim := SendLimits{PerHour: 500, PerDay: 500, RcptsPerDay: 1 << 20}
	var ok atomic.Int64
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 100; i++ {
				if c.Take("p@x.test", lim, 2) == nil {
					ok.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if ok.Load() != 500 {
		t.Fatalf("%d messages allowed, want 500", ok.Load())
	}
	if l := c.sent["p@x.test"]; l.msgs != 500 || l.rcpts != 1000 {
		t.Fatalf("totals %d/%d", l.msgs, l.rcpts)
	}
}

func BenchmarkSendCapsTake(b *testing.B) {
	c := newSendCaps()
	big := SendLimits{PerHour: 1 << 30, PerDay: 1 << 30, RcptsPerDay: 1 << 30}
	// A login that already sent 20,000 messages today.
	for i := 0; i < 20000; i++ {
		c.Take("bench@x.test", big, 1)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c.Take("bench@x.test", big, 1)
	}
}
