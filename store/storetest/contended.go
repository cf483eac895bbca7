package storetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/authsmtp/authsmtp/store"
)

// contenders is how many callers race in testContended: as many nodes
// (or sessions) asking for the same thing at the same instant.
const contenders = 8

// race runs fn(i) for every contender at once and returns their answers.
func race[T any](fn func(i int) T) []T {
	out := make([]T, contenders)
	var start, done sync.WaitGroup
	start.Add(1)
	for i := range contenders {
		done.Add(1)
		go func() {
			defer done.Done()
			start.Wait()
			out[i] = fn(i)
		}()
	}
	start.Done()
	done.Wait()
	return out
}

func count(answers []bool) int {
	n := 0
	for _, a := range answers {
		if a {
			n++
		}
	}
	return n
}

// testContended: what only one caller may win (a lock, a once-per-window
// reply, filing a captured copy, a queue lease) is won exactly once when
// several ask at the same instant. On a backend that retries conflicting
// transactions, a store function that keeps its answer from a lost
// attempt hands the win to several callers.
func testContended(t *testing.T, b Backend) {
	withUser(t, b)
	for round := range 3 {
		name := fmt.Sprintf("contended-%d", round)
		got := race(func(i int) bool {
			ok, err := b.CertTryLock(name, fmt.Sprintf("node-%d", i), time.Minute)
			if err != nil {
				t.Errorf("CertTryLock: %v", err)
			}
			return ok
		})
		if n := count(got); n != 1 {
			t.Errorf("CertTryLock %s: %d of %d contenders hold the lock, want 1", name, n, contenders)
		}

		sender := fmt.Sprintf("r%d@far.example", round)
		due := race(func(int) bool { return b.VacationDue(user, sender, time.Hour) })
		if n := count(due); n != 1 {
			t.Errorf("VacationDue %s: %d of %d say reply, want 1", sender, n, contenders)
		}

		acc, err := b.Accept(&store.Incoming{From: user, Login: user, Remote: []string{"bob@far.example"},
			Body: msg(fmt.Sprintf("captured %d", round)), Captured: true})
		if err != nil {
			t.Fatal(err)
		}
		filed := race(func(int) bool {
			ok, err := b.FileCaptured(acc.QueueID)
			if err != nil {
				t.Errorf("FileCaptured: %v", err)
			}
			return ok
		})
		if n := count(filed); n != 1 {
			t.Errorf("FileCaptured %s: %d of %d filed it, want 1", acc.QueueID, n, contenders)
		}
		if msgs, err := b.ListMessages(user, "Captured"); err != nil || len(msgs) != round+1 {
			t.Errorf("Captured folder after %d filed: %d messages, %v", round+1, len(msgs), err)
		}
		if q, err := b.GetQueue(acc.QueueID); err != nil || !q.Filed || !q.Captured {
			t.Errorf("filed entry: %+v, %v", q, err)
		}
	}

	var ids []string
	for i := range 5 {
		acc, err := b.Accept(&store.Incoming{From: user, Remote: []string{"bob@far.example"}, Body: msg(fmt.Sprintf("lease %d", i))})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, acc.QueueID)
	}
	claims := race(func(i int) []string {
		c, err := b.ClaimQueue(fmt.Sprintf("node-%d", i), ids, time.Now().Add(time.Minute))
		if err != nil {
			t.Errorf("ClaimQueue: %v", err)
		}
		return c
	})
	owners := map[string]int{}
	for _, c := range claims {
		for _, id := range c {
			owners[id]++
		}
	}
	for _, id := range ids {
		if owners[id] != 1 {
			t.Errorf("queue entry %s claimed by %d nodes, want 1", id, owners[id])
		}
	}
}
