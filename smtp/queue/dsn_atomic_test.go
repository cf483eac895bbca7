package queue

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"github.com/authsmtp/authsmtp/internal/mailtest"
	"github.com/authsmtp/authsmtp/store"
)

// crashPoint is a log handler that, at the first "delivery attempt" line
// for a permanently failed recipient (logged right after the runner
// committed the attempt), copies the database as it is on disk at that
// instant: what a crash there would leave behind.
type crashPoint struct {
	slog.Handler
	st   *store.Store
	path string
	once sync.Once
	done chan struct{}
	err  error
}

func newCrashPoint(st *store.Store, dir string) *crashPoint {
	return &crashPoint{Handler: slog.NewTextHandler(io.Discard, nil), st: st,
		path: filepath.Join(dir, store.DBFile), done: make(chan struct{})}
}

func (c *crashPoint) Handle(ctx context.Context, r slog.Record) error {
	if r.Message != "delivery attempt" {
		return nil
	}
	failed := false
	r.Attrs(func(a slog.Attr) bool {
		failed = failed || (a.Key == "status" && a.Value.String() == store.RcptFailed)
		return true
	})
	if failed {
		c.once.Do(func() {
			_, c.err = c.st.BackupFile(c.path)
			close(c.done)
		})
	}
	return nil
}

func (c *crashPoint) WithAttrs([]slog.Attr) slog.Handler { return c }
func (c *crashPoint) WithGroup(string) slog.Handler      { return c }

// snapshot waits for the crash point and opens the copy.
func (c *crashPoint) snapshot(t *testing.T) *store.Store {
	t.Helper()
	select {
	case <-c.done:
	case <-time.After(10 * time.Second):
		t.Fatal("no permanent failure was recorded")
	}
	if c.err != nil {
		t.Fatalf("copying the database at the crash point: %v", c.err)
	}
	st, err := store.Open(filepath.Dir(c.path), store.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// TestDSNCommittedWithFailureLocalSender: the moment a permanent failure
// is on disk, so is the DSN in the hosted sender's INBOX (one commit), so
// a crash right after the failure is recorded cannot lose the bounce.
func TestDSNCommittedWithFailureLocalSender(t *testing.T) {
	e := newEnv(t)
	rcv := mailtest.StartReceiver(t, nil)
	rcv.OnRcpt = func(string) error {
		return &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
	}
	cp := newCrashPoint(e.st, t.TempDir())
	e.runner(t, rcv.Port, func(c *Config) { c.Logger = slog.New(cp) })
	if _, err := e.st.Accept(&store.Incoming{From: "alice@a.test", Remote: []string{"bad@remote.test"},
		Body: msg("alice@a.test", "bad@remote.test", "crash test")}); err != nil {
		t.Fatal(err)
	}
	snap := cp.snapshot(t)
	if q, err := snap.ListQueue(); err != nil || len(q) != 0 {
		t.Errorf("queue at the crash point = %+v (%v), want the failed entry finished", q, err)
	}
	dsns := inbox(t, snap, "alice@a.test")
	if len(dsns) != 1 || !strings.Contains(string(dsns[0]), "Final-Recipient: rfc822; bad@remote.test") {
		t.Fatalf("DSNs in the sender's INBOX at the crash point = %d, want 1 for bad@remote.test (lost with a crash)", len(dsns))
	}
	// And the live store ends the same way, with exactly one DSN.
	waitQueueEmpty(t, e.st, 10*time.Second)
	if n := len(inbox(t, e.st, "alice@a.test")); n != 1 {
		t.Errorf("DSNs in the live INBOX = %d, want 1", n)
	}
}

// TestDSNCommittedWithFailureRemoteSender: for an outside sender the DSN
// is a new queue entry (from <>, marked DSN), committed with the failure.
func TestDSNCommittedWithFailureRemoteSender(t *testing.T) {
	e := newEnv(t)
	rcv := mailtest.StartReceiver(t, nil)
	cp := newCrashPoint(e.st, t.TempDir())
	rcv.OnRcpt = func(to string) error {
		if to == "sender@remote.test" {
			select { // the DSN is not delivered before the copy is taken
			case <-cp.done:
			case <-time.After(10 * time.Second):
			}
			return nil
		}
		return &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 1, 1}, Message: "gone"}
	}
	e.runner(t, rcv.Port, func(c *Config) { c.Logger = slog.New(cp) })
	if _, err := e.st.Accept(&store.Incoming{From: "sender@remote.test", Remote: []string{"gone@remote.test"},
		Body: msg("sender@remote.test", "gone@remote.test", "fwd")}); err != nil {
		t.Fatal(err)
	}
	snap := cp.snapshot(t)
	q, err := snap.ListQueue()
	if err != nil {
		t.Fatal(err)
	}
	if len(q) != 1 || !q[0].DSN || q[0].From != "" || len(q[0].Rcpts) != 1 || q[0].Rcpts[0].Address != "sender@remote.test" {
		t.Fatalf("queue at the crash point = %+v, want only the DSN to sender@remote.test (lost with a crash)", q)
	}
	waitQueueEmpty(t, e.st, 10*time.Second)
	n := 0
	for _, m := range rcv.Messages() {
		if m.Rcpts[0] == "sender@remote.test" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("DSNs delivered to the outside sender = %d, want 1", n)
	}
}
