package store

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/authsmtp/authsmtp/store/kv/pgkv"
)

// TestCapChargedInCommit: a delivery's Content.Cap counts the message as
// it is stored, with the counters in memory, in a shared bbolt file and on
// PostgreSQL. Under the cap every message is stored and counted once (8
// senders at once, so group commits and retried transactions run the
// charge more than once); past it, Commit returns the *CapError and stores
// nothing. On PostgreSQL the charge costs no transaction of its own.
func TestCapChargedInCommit(t *testing.T) {
	for _, mode := range []struct {
		name string
		open func(t *testing.T) *Store
	}{
		{"memory", func(t *testing.T) *Store { return authTestStore(t) }},
		{"shared", func(t *testing.T) *Store { return sharedTestStore(t) }},
		{"postgres", func(t *testing.T) *Store { return pgTestStore(t) }},
	} {
		t.Run(mode.name, func(t *testing.T) {
			st := mode.open(t)
			if _, err := st.AddDomain("cap.test"); err != nil {
				t.Fatal(err)
			}
			if _, err := st.AddUser("ann@cap.test", "Cap-pass-2026-x"); err != nil {
				t.Fatal(err)
			}
			const limit, senders = 12, 8
			limits := SendLimits{PerHour: limit, PerDay: 1000, RcptsPerDay: 1000}
			send := func(i int) error {
				d := st.BeginDelivery(Envelope{From: "ann@cap.test", Login: "ann@cap.test"})
				if _, err := d.AddRecipient("ann@cap.test"); err != nil {
					return err
				}
				body := fmt.Appendf(nil, "From: ann@cap.test\r\nSubject: %d\r\n\r\nhi\r\n", i)
				_, err := d.Commit(Content{Body: body, Cap: &CapCharge{Login: "ann@cap.test", Limits: limits, Rcpts: 1}})
				return err
			}
			pg, _ := st.db.(*pgkv.DB)
			var before pgkv.Stats
			if pg != nil {
				before = pg.Stats()
			}
			var wg sync.WaitGroup
			errs := make([]error, limit)
			for w := range senders {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := w; i < limit; i += senders {
						errs[i] = send(i)
					}
				}()
			}
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Fatalf("message %d under the cap: %v", i, err)
				}
			}
			if pg != nil {
				// One write transaction a message at most (a group commit
				// shares them; a retry adds one), and the junk filter's
				// two (a contact, the sampled training).
				after := pg.Stats()
				if n := after.Writes - after.Retries - (before.Writes - before.Retries); n > limit+2 {
					t.Errorf("%d write transactions for %d messages: the charge took its own", n, limit)
				}
			}
			var ce *CapError
			if err := send(limit); !errors.As(err, &ce) || ce.Max != limit {
				t.Fatalf("message past the cap: %v, want a CapError of %d", err, limit)
			}
			_, states, err := st.MailboxState("ann@cap.test", "INBOX")
			if err != nil {
				t.Fatal(err)
			}
			if len(states) != limit {
				t.Errorf("%d messages stored, want %d (the refused one not stored)", len(states), limit)
			}
			// Counted exactly once each: the cap refuses the next at once.
			if err := st.Caps.Take("ann@cap.test", limits, 1); !errors.As(err, &ce) {
				t.Errorf("Take after %d charged messages: %v, want a CapError", limit, err)
			}
			if err := st.Caps.Take("ann@cap.test", SendLimits{PerHour: limit + 1, PerDay: 1000, RcptsPerDay: 1000}, 1); err != nil {
				t.Errorf("Take under a cap one higher: %v (a message was counted twice)", err)
			}
		})
	}
}
