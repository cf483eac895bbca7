package store

import (
	"testing"
	"time"
)

// TestDMARCEvalDays: evaluations are grouped per day and policy domain,
// only days before the limit are listed, and a deleted day is gone
// without touching the others.
func TestDMARCEvalDays(t *testing.T) {
	st := openTestStore(t, t.TempDir())
	d1 := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	d2 := d1.AddDate(0, 0, 1)
	for _, c := range []struct {
		t   time.Time
		dom string
	}{{d1, "a.test"}, {d1, "B.test"}, {d1, "a.test"}, {d2, "a.test"}} {
		if err := st.AddDMARCEval(c.t, DMARCEval{PolicyDomain: c.dom, SourceIP: "192.0.2.1", HeaderFrom: c.dom, Disposition: "none"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.AddDMARCEval(d1, DMARCEval{}); err == nil {
		t.Fatal("an evaluation without a domain was kept")
	}
	days, err := st.DMARCDays(d2)
	if err != nil || len(days) != 2 || days[0].Domain != "a.test" || len(days[0].Evals) != 2 || days[1].Domain != "b.test" || days[0].Day != "2026-11-26" {
		t.Fatalf("days before %v: %+v %v", d2, days, err)
	}
	if err := st.DeleteDMARCDay("2026-11-26", "a.test"); err != nil {
		t.Fatal(err)
	}
	days, _ = st.DMARCDays(d2.AddDate(0, 0, 1))
	if len(days) != 2 || days[0].Domain != "b.test" || days[1].Day != "2026-11-27" {
		t.Fatalf("after deleting: %+v", days)
	}
}
