package mx

import (
	"fmt"
	"testing"
	"time"
)

func TestHourlyCountsPerIPAndResetsAfterAnHour(t *testing.T) {
	h := newHourly(10)
	t0 := time.Unix(1_000_000, 0)
	for i := range 3 {
		if !h.take("192.0.2.1", 3, t0.Add(time.Duration(i)*time.Minute)) {
			t.Fatalf("message %d refused under the cap", i+1)
		}
	}
	if h.take("192.0.2.1", 3, t0.Add(59*time.Minute)) {
		t.Fatal("fourth message in the hour accepted over a cap of 3")
	}
	if !h.take("192.0.2.2", 3, t0.Add(59*time.Minute)) {
		t.Fatal("another IP was refused")
	}
	if !h.take("192.0.2.1", 3, t0.Add(time.Hour)) {
		t.Fatal("a new hour did not reset the count")
	}
}

// Past the table's size the oldest windows make room; everyone else's
// count is kept (the old code wiped the whole table, so a flood from many
// addresses reset the count of a sender over its cap).
func TestHourlyFullTableExpiresOldestNotAll(t *testing.T) {
	const size = 1000
	h := newHourly(size)
	t0 := time.Unix(1_000_000, 0)
	// A heavy sender reaches its cap first.
	for range 5 {
		h.take("198.51.100.7", 5, t0)
	}
	// Then a flood from as many other addresses as the table holds.
	for i := range size + 500 {
		ip := fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255)
		if !h.take(ip, 5, t0.Add(time.Second+time.Duration(i)*time.Millisecond)) {
			t.Fatalf("flood address %s refused", ip)
		}
	}
	if n := h.len(); n > size {
		t.Fatalf("table holds %d entries, bound is %d", n, size)
	}
	// The heavy sender's window was the oldest: it made room first.
	// Entries pushed in later keep their counts.
	last := fmt.Sprintf("10.%d.%d.%d", (size+499)>>16&255, (size+499)>>8&255, (size+499)&255)
	for range 4 {
		h.take(last, 5, t0.Add(10*time.Second))
	}
	if h.take(last, 5, t0.Add(10*time.Second)) {
		t.Fatal("a recent sender's count was lost when the table was full")
	}
	// Expired windows go before live ones.
	h2 := newHourly(3)
	h2.take("a", 2, t0)
	h2.take("b", 2, t0.Add(30*time.Minute))
	h2.take("b", 2, t0.Add(30*time.Minute))
	h2.take("c", 2, t0.Add(40*time.Minute))
	h2.take("d", 2, t0.Add(61*time.Minute)) // "a" expired: dropped, "b" kept
	if h2.take("b", 2, t0.Add(62*time.Minute)) {
		t.Fatal("b's count was dropped although an expired entry could make room")
	}
}

func BenchmarkHourlyFlood(b *testing.B) {
	h := newHourly(maxRateEntries)
	t0 := time.Now()
	for i := 0; b.Loop(); i++ {
		h.take(fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255), 1000, t0)
	}
}
