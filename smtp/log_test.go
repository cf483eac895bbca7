package smtp

import (
	"bytes"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authsmtp/authsmtp/internal/testutil"
	"github.com/authsmtp/authsmtp/store"
)

type lockedBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestLogLines: one line per event with the connection id, the login and
// the IP; never a password.
func TestLogLines(t *testing.T) {
	var buf lockedBuf
	log := slog.New(slog.NewTextHandler(&buf, nil))
	st, err := store.Open(t.TempDir(), store.Options{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	testutil.Domain(t, st, "doe.com", domPW, true)
	testutil.User(t, st, "john@doe.com", userPW)
	testutil.User(t, st, "jane@doe.com", "Jan-pass-h3Y!p")
	st.Throttle.SetConfig(store.ThrottleConfig{BaseDelay: time.Millisecond, MaxDelay: 2 * time.Millisecond})
	e := startEnv(t, st, func(c *Config) { c.Logger = log })

	_, err = e.dial(t, "john@doe.com", "wrong-secret-xyz")
	wantCode(t, err, "535 5.7.8")
	_, err = e.dial(t, "evil\r\nlevel=ERROR msg=forged", "pw-of-evil")
	wantCode(t, err, "535 5.7.8")
	if err := e.send(t, "john@doe.com", userPW, "john@doe.com", []string{"jane@doe.com"}, msg("From: john@doe.com")); err != nil {
		t.Fatal(err)
	}
	err = e.send(t, "john@doe.com", userPW, "jane@doe.com", []string{"jane@doe.com"}, msg("From: jane@doe.com"))
	wantCode(t, err, "553 5.7.1")
	e.srv.Close()

	out := buf.String()
	for _, secret := range []string{"wrong-secret-xyz", userPW, "pw-of-evil"} {
		if strings.Contains(out, secret) {
			t.Fatalf("a password reached the log:\n%s", out)
		}
	}
	for _, re := range []string{
		`msg="smtp auth failed" service=submission cid=\w+ ip=127\.0\.0\.1 login=john@doe\.com`,
		`msg="smtp auth ok" service=submission cid=(\w+) ip=127\.0\.0\.1 login=john@doe\.com kind=user`,
		`msg="smtp message accepted" service=submission cid=\w+ login=john@doe\.com from=john@doe\.com rcpts=1 size=\d+ queue_id="" uids=1`,
		`msg="smtp sender refused" service=submission cid=\w+ login=john@doe\.com from=jane@doe\.com`,
	} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("no log line matches %s", re)
		}
	}
	if strings.Contains(out, "\nlevel=ERROR msg=forged") {
		t.Errorf("a login name forged a log line:\n%s", out)
	}
	if t.Failed() {
		t.Log(out)
	}
}

// TestQueueEntryNamesItsSession: a queued message keeps the service and
// cid of the session that accepted it, the same as its log lines, so
// `queue show` leads to the log.
func TestQueueEntryNamesItsSession(t *testing.T) {
	var buf lockedBuf
	log := slog.New(slog.NewTextHandler(&buf, nil))
	st := testutil.Store(t)
	testutil.Domain(t, st, "doe.com", domPW, true)
	testutil.User(t, st, "john@doe.com", userPW)
	e := startEnv(t, st, func(c *Config) { c.Logger = log })
	// Two sessions, so the second's cid is not the first id given out.
	if _, err := e.dial(t, "john@doe.com", "wrong-secret-xyz"); err == nil {
		t.Fatal("a wrong password was accepted")
	}
	if err := e.send(t, "john@doe.com", userPW, "john@doe.com", []string{"ann@remote.example"}, msg("From: john@doe.com")); err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`msg="smtp message accepted" service=submission cid=(\w+) .* queue_id=(\S+)`).FindStringSubmatch(buf.String())
	if m == nil {
		t.Fatalf("no accepted line with a queue id:\n%s", buf.String())
	}
	q, err := st.GetQueue(m[2])
	if err != nil {
		t.Fatal(err)
	}
	if q.Service != "submission" || q.CID != m[1] || m[1] == "1" {
		t.Fatalf("queue entry names service=%q cid=%q; the log says service=submission cid=%s", q.Service, q.CID, m[1])
	}
}
