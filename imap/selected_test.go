package imap

import (
	"math/rand/v2"
	"slices"
	"testing"

	goimap "github.com/emersion/go-imap/v2"
)

// resolveByMarks is the plain reading of a set: mark every index it
// covers, then list them (what resolve did before it worked on ranges).
func resolveByMarks(sel *selected, numSet goimap.NumSet) []int {
	n := len(sel.uids)
	var out []int
	for i := 0; i < n; i++ {
		seq, uid := uint32(i+1), sel.uids[i]
		switch set := numSet.(type) {
		case goimap.SeqSet:
			for _, r := range set {
				lo, hi := r.Start, r.Stop
				if lo == 0 {
					lo = uint32(n)
				}
				if hi == 0 {
					hi = uint32(n)
				}
				if (seq >= lo && seq <= hi) || (seq >= hi && seq <= lo) {
					out = append(out, i)
					break
				}
			}
		case goimap.UIDSet:
			for _, r := range set {
				lo, hi := uint32(r.Start), uint32(r.Stop)
				if lo == 0 {
					lo = sel.lastUID()
				}
				if hi == 0 {
					hi = sel.lastUID()
				}
				if (uid >= lo && uid <= hi) || (uid >= hi && uid <= lo) {
					out = append(out, i)
					break
				}
			}
		}
	}
	return out
}

// TestResolveRanges: resolve lists the same indexes as marking each one
// would, for random sets over random mailboxes (overlaps, reversed
// ranges, "*", numbers past the end).
func TestResolveRanges(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for iter := 0; iter < 2000; iter++ {
		sel := &selected{}
		uid := uint32(0)
		for i := r.IntN(40); i > 0; i-- {
			uid += 1 + uint32(r.IntN(3))
			sel.uids = append(sel.uids, uid)
		}
		num := func() uint32 {
			if r.IntN(6) == 0 {
				return 0 // "*"
			}
			return 1 + uint32(r.IntN(int(uid)+5))
		}
		var seqs goimap.SeqSet
		var uids goimap.UIDSet
		for i := 1 + r.IntN(4); i > 0; i-- {
			seqs = append(seqs, goimap.SeqRange{Start: num(), Stop: num()})
			uids = append(uids, goimap.UIDRange{Start: goimap.UID(num()), Stop: goimap.UID(num())})
		}
		for _, set := range []goimap.NumSet{seqs, uids} {
			if got, want := sel.resolve(set), resolveByMarks(sel, set); !slices.Equal(got, want) {
				t.Fatalf("uids %v set %v: got %v, want %v", sel.uids, set, got, want)
			}
		}
	}
}
