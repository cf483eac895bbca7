package mx

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	msgdkim "github.com/emersion/go-msgauth/dkim"

	"github.com/authsmtp/authsmtp/store/junk"
)

const spamText = "WINNER! Claim your cash prize now at http://claim.lottery.example/win cheap pills viagra casino bonus unsubscribe"
const hamText = "Hi, here are the notes from the project meeting: the release branch is cut on Monday, please review the build scripts."

func junkMsg(from, subject, text string, i int) []byte {
	return []byte(fmt.Sprintf("From: <%s>\r\nTo: <alice@a.test>\r\nSubject: %s %d\r\nMessage-ID: <%d.%d@x.test>\r\n\r\n%s\r\n",
		from, subject, i, i, time.Now().UnixNano(), text))
}

// trainAlice trains alice's filter through the store's API: 12 spam, 12 ham.
func trainAlice(t *testing.T, e *mxEnv) {
	t.Helper()
	for i := range 12 {
		if _, err := e.st.TrainJunk("alice@a.test", junk.Spam, [][]byte{junkMsg(fmt.Sprintf("promo%d@lottery.test", i), "You won", spamText, i)}); err != nil {
			t.Fatal(err)
		}
		e.st.TrainJunk("alice@a.test", junk.Ham, [][]byte{junkMsg("colleague@work.test", "Meeting notes", hamText, i)})
	}
}

func TestJunkFilterAtDelivery(t *testing.T) {
	e := newMX(t, nil)
	e.st.AddDomain("c.test")
	e.st.AddUser("carol@c.test", "password-123")

	// Untrained: nothing decided, no verdict fields, the INBOX.
	if err := e.send(t, "promo@lottery.test", []string{"alice@a.test"}, junkMsg("promo@lottery.test", "You won", spamText, 100)); err != nil {
		t.Fatal(err)
	}
	if in := e.mailbox(t, "alice@a.test", "INBOX"); len(in) != 1 || strings.Contains(in[0], "X-Spam-") {
		t.Fatalf("untrained filter acted: %q", in)
	}
	trainAlice(t, e)

	// Spam with a forged verdict from outside: junked, the forged field gone.
	spam := append([]byte("X-Spam-Status: No, score=-100\r\nX-Spam-Score: -100\r\n"), junkMsg("promo@lottery.test", "You won", spamText, 101)...)
	if err := e.send(t, "promo@lottery.test", []string{"alice@a.test", "carol@c.test"}, spam); err != nil {
		t.Fatal(err)
	}
	j := e.mailbox(t, "alice@a.test", "Junk")
	if len(j) != 1 || !strings.Contains(j[0], "X-Spam-Status: Yes, score=") || strings.Contains(j[0], "-100") {
		t.Fatalf("alice's Junk: %q", j)
	}
	if n := strings.Count(j[0], "X-Spam-Score:"); n != 1 {
		t.Errorf("%d X-Spam-Score fields", n)
	}
	// carol (another domain, untrained) got the same message in her INBOX, unmarked.
	if in := e.mailbox(t, "carol@c.test", "INBOX"); len(in) != 1 || strings.Contains(in[0], "X-Spam-") {
		t.Fatalf("carol's INBOX: %q", in)
	}
	// bob has no training of his own: the domain model (alice's) judges.
	if err := e.send(t, "promo@lottery.test", []string{"bob@a.test"}, junkMsg("promo@lottery.test", "You won", spamText, 102)); err != nil {
		t.Fatal(err)
	}
	if j := e.mailbox(t, "bob@a.test", "Junk"); len(j) != 1 || !strings.Contains(j[0], "model=domain") {
		t.Fatalf("bob's Junk: %q", j)
	}

	// Ham: the INBOX with a No verdict.
	if err := e.send(t, "colleague@work.test", []string{"alice@a.test"}, junkMsg("colleague@work.test", "Meeting notes", hamText, 103)); err != nil {
		t.Fatal(err)
	}
	in := e.mailbox(t, "alice@a.test", "INBOX")
	if len(in) != 2 || !strings.Contains(in[1], "X-Spam-Status: No, score=") {
		t.Fatalf("alice's INBOX: %q", in)
	}
}

func TestJunkReputation(t *testing.T) {
	e := newMX(t, nil)
	trainAlice(t, e)
	// alice wrote to friend@sender.test (sender.test signs with DKIM and passes DMARC).
	e.st.Junk.AddContacts("alice@a.test", []string{"friend@sender.test", "@sender.test"}, time.Now())
	sign := func(m []byte) []byte {
		var out bytes.Buffer
		if err := msgdkim.Sign(&out, bytes.NewReader(m), &msgdkim.SignOptions{Domain: "sender.test", Selector: "s1", Signer: e.key}); err != nil {
			t.Fatal(err)
		}
		return out.Bytes()
	}
	// Spammy words from a verified contact: the INBOX, with the reason.
	if err := e.send(t, "friend@sender.test", []string{"alice@a.test"}, sign(junkMsg("friend@sender.test", "You won", spamText, 1))); err != nil {
		t.Fatal(err)
	}
	in := e.mailbox(t, "alice@a.test", "INBOX")
	if len(in) != 1 || !strings.Contains(in[0], "X-Spam-Status: Yes") || !strings.Contains(in[0], "reputation=known-sender") {
		t.Fatalf("INBOX: %q", in)
	}
	if vs, _ := junkResults(t, in[0]); len(vs) != 1 || vs[0].Value != "ham" || vs[0].Params["policy.reputation"] != "known-sender" {
		t.Fatalf("Authentication-Results verdict %+v in %q", vs[0], in[0])
	}
	// Another address of the same DKIM-verified domain: the domain is known.
	if err := e.send(t, "other@sender.test", []string{"alice@a.test"}, sign(junkMsg("other@sender.test", "You won", spamText, 2))); err != nil {
		t.Fatal(err)
	}
	if in := e.mailbox(t, "alice@a.test", "INBOX"); len(in) != 2 {
		t.Fatalf("DKIM-aligned known domain junked: INBOX has %d", len(in))
	}
	// The contact's address forged from elsewhere (no SPF, no DKIM): Junk.
	e.st.Junk.AddContacts("alice@a.test", []string{"friend@forged.test"}, time.Now())
	if err := e.send(t, "friend@forged.test", []string{"alice@a.test"}, junkMsg("friend@forged.test", "You won", spamText, 3)); err != nil {
		t.Fatal(err)
	}
	if j := e.mailbox(t, "alice@a.test", "Junk"); len(j) != 1 {
		t.Fatalf("unverified contact address kept out of Junk: Junk has %d", len(j))
	}
}
