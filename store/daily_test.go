package store

import "testing"

// TestClaimDay: on a shared database one claim per job and day wins (a
// second node's is refused, and an older day too); alone, every claim wins.
func TestClaimDay(t *testing.T) {
	st := sharedTestStore(t)
	for _, c := range []struct {
		job, day string
		want     bool
	}{
		{"tls-reports", "2026-11-28", true},
		{"tls-reports", "2026-11-28", false},
		{"dmarc-reports", "2026-11-28", true},
		{"tls-reports", "2026-11-27", false},
		{"tls-reports", "2026-11-29", true},
	} {
		if got, err := st.ClaimDay(c.job, c.day); err != nil || got != c.want {
			t.Errorf("ClaimDay(%s, %s) = %v, %v; want %v", c.job, c.day, got, err, c.want)
		}
	}
	alone := authTestStore(t)
	for range 2 {
		if ok, _ := alone.ClaimDay("tls-reports", "2026-11-28"); !ok {
			t.Fatal("a store alone on its database was refused a daily job")
		}
	}
}
