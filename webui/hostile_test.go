package webui

import (
	"strings"
	"testing"
	"time"

	"github.com/authsmtp/authsmtp/internal/mailtest"
)

// TestReadHostileMail: the webmail list and message pages of the hostile
// messages of SECURITY.md (message/rfc822 nested 8,000 deep, multipart
// nested 10,000 deep, 100k parts, a 10 MB header, 100k To: fields) answer
// promptly, within the parse bounds (go-message's reader went through
// every nesting level for every byte).
func TestReadHostileMail(t *testing.T) {
	e := newEnv(t)
	msgs := []struct {
		subject string
		raw     []byte
	}{
		{"rfc822 bomb", mailtest.RFC822Bomb(testUser, 8000)},
		{"deep multipart", mailtest.DeepMultipart(testUser, 10000)},
		{"many parts", mailtest.ManyParts(testUser, 100000)},
		{"huge header", mailtest.HugeHeader(testUser, 10<<20)},
		{"many to", mailtest.ManyTo(testUser, 100000)},
	}
	for _, m := range msgs {
		_, err := e.st.Append(testUser, "INBOX", m.raw, nil, time.Now())
		must(t, err)
	}
	c := e.client()
	c.login("mail", testUser, userPW)
	start := time.Now()
	resp, list := c.get("/mail/folder?name=INBOX")
	wantStatus(t, "list", resp, 200)
	for _, m := range msgs {
		if !strings.Contains(list, m.subject) {
			t.Errorf("list lacks %q", m.subject)
		}
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("list took %v", d)
	}
	for i, m := range msgs {
		start := time.Now()
		resp, page := c.get("/mail/msg?folder=INBOX&uid=" + itoa(i+1))
		wantStatus(t, m.subject, resp, 200)
		if !strings.Contains(page, m.subject) {
			t.Errorf("%s: page lacks the subject", m.subject)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Fatalf("%s: page took %v", m.subject, d)
		}
	}
}
