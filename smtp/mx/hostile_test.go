package mx

import (
	"testing"
	"time"

	"github.com/authsmtp/authsmtp/internal/mailtest"
	"github.com/authsmtp/authsmtp/internal/testutil"
)

// TestHostileMailAtMX: the hostile messages of SECURITY.md sent to the
// MX each get a prompt answer (the header scan, authentication checks
// and junk filter are bounded), and what is accepted is stored whole.
func TestHostileMailAtMX(t *testing.T) {
	e := newMX(t, nil)
	// Ten seconds without -race; the race detector slows go-smtp's
	// byte-at-a-time DATA reader and writer several times over.
	limit := 10 * time.Second
	if testutil.Race {
		limit = 40 * time.Second
	}
	for _, c := range []struct {
		name string
		msg  []byte
	}{
		{"rfc822 nested 8000 deep", mailtest.RFC822Bomb("alice@a.test", 8000)},
		{"multipart nested 10000 deep", mailtest.DeepMultipart("alice@a.test", 10000)},
		{"100k parts", mailtest.ManyParts("alice@a.test", 100000)},
		{"10 MB header", mailtest.HugeHeader("alice@a.test", 10<<20)},
		{"100k To fields", mailtest.ManyTo("alice@a.test", 100000)},
	} {
		before := len(e.mailbox(t, "alice@a.test", "INBOX")) + len(e.mailbox(t, "alice@a.test", "Junk"))
		start := time.Now()
		err := e.send(t, "bomber@bomb.test", []string{"alice@a.test"}, c.msg)
		d := time.Since(start)
		t.Logf("%s (%d bytes): %v in %v", c.name, len(c.msg), err, d)
		if err != nil && codeOf(err) < 500 {
			t.Errorf("%s: %v", c.name, err)
		}
		if d > limit {
			t.Errorf("%s: answered after %v", c.name, d)
		}
		stored := append(e.mailbox(t, "alice@a.test", "INBOX"), e.mailbox(t, "alice@a.test", "Junk")...)
		if err == nil && (len(stored) != before+1 || len(stored[len(stored)-1]) < len(c.msg)) {
			t.Errorf("%s: accepted but not stored whole", c.name)
		}
	}
}
