package webui

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The Junk and Not junk buttons move the message, and the store trains
// the junk filter from the move.
func TestJunkButtons(t *testing.T) {
	e := newEnv(t)
	_, err := e.st.Append(testUser, "INBOX", []byte("From: a@remote.example\r\nSubject: cheap pills\r\nMessage-ID: <j1@remote.example>\r\n\r\nbuy now\r\n"), nil, time.Now())
	must(t, err)
	c := e.client()
	c.login("mail", testUser, userPW)
	page := func(u string) string {
		_, b := c.get(u)
		return b
	}
	if p := page("/mail/msg?folder=INBOX&uid=1"); !strings.Contains(p, `id="junk"`) || strings.Contains(p, `id="notjunk"`) {
		t.Fatal("no Junk button on an INBOX message")
	}
	resp, _ := c.post("/mail/msg/move", url.Values{"folder": {"INBOX"}, "uid": {"1"}, "dest": {"Junk"}})
	wantStatus(t, "junk", resp, http.StatusSeeOther)
	tot, _ := e.st.Junk.Totals(testUser)
	if len(e.mailbox(testUser, "Junk")) != 1 || tot.Spam != 1 || tot.Ham != 0 {
		t.Fatalf("after Junk: %d in Junk, %+v", len(e.mailbox(testUser, "Junk")), tot)
	}
	msgs, _ := e.st.ListMessages(testUser, "Junk")
	uid := strconv.FormatUint(uint64(msgs[0].UID), 10)
	u := "/mail/msg?folder=Junk&uid=" + uid
	if p := page(u); !strings.Contains(p, `id="notjunk"`) || strings.Contains(p, `id="junk"`) {
		t.Fatal("no Not junk button on a Junk message")
	}
	resp, _ = c.post("/mail/msg/move", url.Values{"folder": {"Junk"}, "uid": {uid}, "dest": {"INBOX"}})
	wantStatus(t, "not junk", resp, http.StatusSeeOther)
	tot, _ = e.st.Junk.Totals(testUser)
	if len(e.mailbox(testUser, "INBOX")) != 1 || tot.Spam != 0 || tot.Ham != 1 {
		t.Fatalf("after Not junk: %+v", tot)
	}
}
