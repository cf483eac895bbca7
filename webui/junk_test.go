package webui

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/authsmtp/authsmtp/store"
	"github.com/authsmtp/authsmtp/store/junk"
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

// The domain's Spam tab shows the day's deliveries, junked copies and
// blocklist refusals, and each user's filter state.
func TestSpamTab(t *testing.T) {
	e := newEnv(t)
	domain := store.DomainOf(testUser)
	must(t, e.st.CountRefused(domain))
	_, err := e.st.Accept(&store.Incoming{From: "x@remote.example", Body: []byte("Subject: a\r\n\r\nx\r\n"),
		Local: []store.LocalRcpt{{Address: testUser}}})
	must(t, err)
	_, err = e.st.Accept(&store.Incoming{From: "x@remote.example", Body: []byte("Subject: b\r\n\r\ny\r\n"),
		Local: []store.LocalRcpt{{Address: testUser, Mailbox: "Junk"}}})
	must(t, err)
	e.st.TrainJunk(testUser, junk.Spam, [][]byte{[]byte("Subject: s\r\n\r\nspam words\r\n")})
	c := e.client()
	c.login("admin", "admin", adminPW)
	resp, body := c.get("/admin/domains/" + domain + "/spam")
	wantStatus(t, "spam tab", resp, http.StatusOK)
	today := time.Now().UTC().Format(time.DateOnly)
	if !strings.Contains(body, "<td>"+today+"</td><td>2</td><td>1</td><td>1</td>") {
		t.Errorf("today's row (2 received, 1 to Junk, 1 refused) missing:\n%s", body)
	}
	if !strings.Contains(body, "<td>"+testUser+"</td><td>1</td><td>0</td>") || !strings.Contains(body, "learning") {
		t.Errorf("user's filter state missing:\n%s", body)
	}
}
