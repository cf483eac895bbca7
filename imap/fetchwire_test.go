package imap

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/authsmtp/authsmtp/internal/testutil"
	"github.com/authsmtp/authsmtp/store"
)

// wireMessages are messages whose envelopes exercise the encoder: UTF-8
// and encoded words, quotes and backslashes, groups, no Date, a long
// subject (a literal), 8-bit addresses, several In-Reply-To ids.
var wireMessages = []string{
	"From: Bob <bob@example.org>\r\nTo: alice@imap.test\r\nSubject: plain\r\nDate: Mon, 2 Jan 2023 15:04:05 +0100\r\nMessage-ID: <1@example.org>\r\n\r\nbody\r\n",
	"From: =?utf-8?q?J=C3=BCrgen_M=C3=BCller?= <j@example.org>\r\nSender: s@example.org\r\nReply-To: \"Quoted \\\"Name\\\"\" <r@example.org>\r\nTo: a@imap.test, \"B \\\\ C\" <b@imap.test>\r\nCc: undisclosed-recipients:;\r\nSubject: =?iso-8859-1?q?Gr=FC=DFe?= \"quoted\" back\\slash\r\nIn-Reply-To: <x@y> <z@w>\r\nMessage-ID: <q\"uote@host>\r\nDate: Tue, 31 Dec 1999 23:59:59 -0330\r\n\r\nbody\r\n",
	"From: ünï <ünï@bücher.example>\r\nTo: <münchen@bücher.example>\r\nSubject: Grüße aus München, raw UTF-8\r\n\r\nno date\r\n",
	"Subject: " + strings.Repeat("long ", 1000) + "\r\nFrom: x@y\r\n\r\nlong subject\r\n",
	"X-Nothing: at all\r\n\r\nno envelope fields\r\n",
}

// TestFetchWireSameBytes compares FETCH answers written by goimapfix.Wire
// with go-imap's for the same store, messages cached and not, with and
// without IMAP4rev2 enabled, and with a keyword go-imap refuses to write
// (that message goes through go-imap, and the command fails as before).
func TestFetchWireSameBytes(t *testing.T) {
	st := testutil.Store(t)
	testutil.Domain(t, st, testDomain, testDomPW, true)
	testutil.User(t, st, testUser, testPassword)
	for i, m := range wireMessages {
		var meta []byte
		if i%2 == 0 { // odd ones as SMTP delivers: parsed at first FETCH
			meta = encodeMeta(parseMeta([]byte(m)))
		}
		flags := []string{`\Seen`, "$Label1"}
		if i == 1 {
			flags = []string{`\Flagged`, `\Answered`, `\Draft`, `\Deleted`}
		}
		if _, err := st.AppendMeta(testUser, "INBOX", []byte(m), flags, time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC), meta); err != nil {
			t.Fatal(err)
		}
	}
	ours := startServer(t, st)
	theirs := startServer(t, st)
	theirs.srv.goimapFetch = true
	cmds := []string{
		"UID FETCH 1:* (FLAGS ENVELOPE RFC822.SIZE)",
		"FETCH 1:* (UID FLAGS INTERNALDATE RFC822.SIZE ENVELOPE)",
		"FETCH 2:4 ALL",
		"FETCH 1:* FAST",
		"UID FETCH 3 ENVELOPE",
		"FETCH 1:* (FLAGS BODYSTRUCTURE)", // go-imap's path in both
	}
	for _, rev2 := range []bool{false, true} {
		a, b := dialWire(t, ours), dialWire(t, theirs)
		for _, w := range []*wire{a, b} {
			if rev2 {
				w.must(t, "ENABLE IMAP4rev2", &bytes.Buffer{})
			}
			w.must(t, "SELECT INBOX", &bytes.Buffer{})
		}
		for _, cmd := range cmds {
			var got, want bytes.Buffer
			a.must(t, cmd, &got)
			b.must(t, cmd, &want)
			if !bytes.Equal(got.Bytes(), want.Bytes()) || got.Len() == 0 {
				t.Errorf("rev2=%v %s:\n got %q\nwant %q", rev2, cmd, got.Bytes(), want.Bytes())
			}
		}
	}
	// A keyword go-imap cannot write: that message goes to go-imap, whose
	// encoder fails; the bytes the client sees are the same either way
	// (go-imap leaves the connection unusable, so read for a while).
	if _, err := st.SetFlags(testUser, "INBOX", []uint32{2}, store.FlagsAdd, []string{"bad(kw"}); err != nil {
		t.Fatal(err)
	}
	a, b := dialWire(t, ours), dialWire(t, theirs)
	var got, want bytes.Buffer
	a.must(t, "SELECT INBOX", &bytes.Buffer{})
	b.must(t, "SELECT INBOX", &bytes.Buffer{})
	a.wait, b.wait = time.Second, time.Second
	_, errA := a.run("FETCH 1:* (FLAGS)", &got)
	_, errB := b.run("FETCH 1:* (FLAGS)", &want)
	if errA == nil || errB == nil || !bytes.Equal(got.Bytes(), want.Bytes()) || !bytes.HasPrefix(got.Bytes(), []byte("* 1 FETCH")) {
		t.Errorf("bad keyword:\n got %q %v\nwant %q %v", got.Bytes(), errA, want.Bytes(), errB)
	}
}
