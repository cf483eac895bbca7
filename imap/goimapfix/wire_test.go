package goimapfix

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	goimap "github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"
)

// wireCase is one message's FETCH items, written by go-imap and by Wire.
type wireCase struct {
	seq, uid uint32
	flags    []string
	date     time.Time
	size     int64
	env      *goimap.Envelope
}

func (c *wireCase) ours(w Wire) []byte {
	b := AppendFetchStart(nil, c.seq)
	b = AppendUID(b, c.uid)
	b = append(b, ' ')
	b, ok := AppendFlags(b, c.flags)
	if !ok {
		return nil
	}
	b = append(b, ' ')
	b = w.AppendInternalDate(b, c.date)
	b = append(b, ' ')
	b = AppendRFC822Size(b, c.size)
	b = append(b, ' ')
	b = w.AppendEnvelope(b, c.env)
	return AppendFetchEnd(b)
}

// goIMAPWire is a go-imap server whose FETCH writes the items of the
// case it is given, and a raw client of it.
type goIMAPWire struct {
	mu   sync.Mutex
	next *wireCase
	c    net.Conn
	r    *bufio.Reader
	tag  int
}

type wireSession struct {
	*imapmemserver.UserSession
	g *goIMAPWire
}

func (s *wireSession) Fetch(w *imapserver.FetchWriter, _ goimap.NumSet, _ *goimap.FetchOptions) error {
	s.g.mu.Lock()
	c := s.g.next
	s.g.mu.Unlock()
	r := w.CreateMessage(c.seq)
	r.WriteUID(goimap.UID(c.uid))
	fl := make([]goimap.Flag, len(c.flags))
	for i, f := range c.flags {
		fl[i] = goimap.Flag(f)
	}
	r.WriteFlags(fl)
	r.WriteInternalDate(c.date)
	r.WriteRFC822Size(c.size)
	r.WriteEnvelope(c.env)
	return r.Close()
}

// startGoIMAPWire starts the server; utf8 enables IMAP4rev2 (so go-imap
// quotes raw UTF-8).
func startGoIMAPWire(tb testing.TB, utf8 bool) *goIMAPWire {
	g := &goIMAPWire{}
	mem := imapmemserver.New()
	user := imapmemserver.NewUser("ann", "pw")
	mem.AddUser(user)
	if err := user.Create("INBOX", nil); err != nil {
		tb.Fatal(err)
	}
	srv := imapserver.New(&imapserver.Options{
		NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			return &wireSession{UserSession: imapmemserver.NewUserSession(user), g: g}, nil, nil
		},
		Caps:         goimap.CapSet{goimap.CapIMAP4rev1: {}, goimap.CapIMAP4rev2: {}},
		InsecureAuth: true,
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	go srv.Serve(ln)
	tb.Cleanup(func() { srv.Close() })
	g.c, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { g.c.Close() })
	g.r = bufio.NewReader(g.c)
	g.r.ReadString('\n')
	g.cmd(tb, "LOGIN ann pw")
	if utf8 {
		g.cmd(tb, "ENABLE IMAP4rev2")
	}
	g.cmd(tb, "SELECT INBOX")
	return g
}

// cmd runs a command and returns its untagged answers as raw bytes.
func (g *goIMAPWire) cmd(tb testing.TB, cmd string) []byte {
	tb.Helper()
	g.tag++
	tag := "t" + strconv.Itoa(g.tag)
	g.c.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(g.c, "%s %s\r\n", tag, cmd)
	var out bytes.Buffer
	for {
		l, err := g.r.ReadString('\n')
		if err != nil {
			tb.Fatalf("%s: %v", cmd, err)
		}
		if strings.HasPrefix(l, tag+" ") {
			if !strings.HasPrefix(l, tag+" OK") {
				tb.Fatalf("%s: %q", cmd, l)
			}
			return out.Bytes()
		}
		out.WriteString(l)
		if i := strings.LastIndexByte(l, '{'); i >= 0 && strings.HasSuffix(l, "}\r\n") {
			n, err := strconv.Atoi(l[i+1 : len(l)-3])
			if err != nil {
				tb.Fatalf("literal in %q", l)
			}
			io.CopyN(&out, g.r, int64(n))
		}
	}
}

func (g *goIMAPWire) fetch(tb testing.TB, c *wireCase) []byte {
	g.mu.Lock()
	g.next = c
	g.mu.Unlock()
	return g.cmd(tb, "FETCH 1 (UID)")
}

func wireCases() []*wireCase {
	zone := time.FixedZone("", -(3*3600 + 30*60))
	long := strings.Repeat("x", 4100)
	return []*wireCase{
		{seq: 1, uid: 1, flags: []string{}, date: time.Unix(0, 0).UTC(), env: nil},
		{seq: 7, uid: 4000000000, flags: []string{`\Seen`, `\Answered`, "$Junk", "kw"}, date: time.Date(2024, 3, 5, 7, 8, 9, 0, zone), size: 12345,
			env: &goimap.Envelope{
				Date:      time.Date(2023, 1, 2, 15, 4, 5, 0, zone),
				Subject:   `a "quoted" \ back`,
				From:      []goimap.Address{{Name: "Bob", Mailbox: "bob", Host: "example.org"}},
				To:        []goimap.Address{{Mailbox: "a", Host: "b.test"}, {Name: "Çé ünï", Mailbox: "c", Host: "d.test"}},
				Cc:        []goimap.Address{{Name: `x "y"`, Mailbox: "q", Host: "r"}},
				Bcc:       []goimap.Address{{Mailbox: "m"}},
				InReplyTo: []string{"a@b", `c"d@e`},
				MessageID: "id@host",
			}},
		{seq: 2, uid: 2, flags: []string{`\Flagged`}, date: time.Unix(1700000000, 0).UTC(), size: 1,
			env: &goimap.Envelope{
				Subject:   "Grüße, ünïcödé subject\r\n with a fold",
				From:      []goimap.Address{{Name: "Ann", Mailbox: "ann", Host: "x.test"}},
				Sender:    []goimap.Address{{Mailbox: "s", Host: "x.test"}},
				ReplyTo:   []goimap.Address{{Mailbox: "r", Host: "x.test"}},
				To:        []goimap.Address{{Mailbox: "ünï", Host: "bücher.example"}},
				MessageID: "ünï\x00@bad\r\nid",
			}},
		{seq: 3, uid: 3, flags: nil, date: time.Unix(1, 0).UTC(),
			env: &goimap.Envelope{Subject: long, MessageID: long[:4095], InReplyTo: []string{long}}},
		{seq: 4, uid: 4, flags: nil, date: time.Unix(1, 0).UTC(),
			env: &goimap.Envelope{Subject: strings.Repeat("é", 3000), MessageID: long[:4094]}},
	}
}

// TestWireMatchesGoIMAP compares Wire's FETCH answers with go-imap's own
// on the same items, with and without quoted UTF-8.
func TestWireMatchesGoIMAP(t *testing.T) {
	for _, utf8 := range []bool{false, true} {
		g := startGoIMAPWire(t, utf8)
		for i, c := range wireCases() {
			want := g.fetch(t, c)
			got := c.ours(Wire{QuotedUTF8: utf8})
			if !bytes.Equal(got, want) {
				t.Errorf("utf8=%v case %d:\n got %q\nwant %q", utf8, i, got, want)
			}
		}
	}
}

// TestWireRefusesBadFlag: a flag go-imap would refuse is left to go-imap.
func TestWireRefusesBadFlag(t *testing.T) {
	for _, f := range []string{"a b", "x(", `a\b`, "", "\x01"} {
		if b, ok := AppendFlags([]byte("x"), []string{`\Seen`, f}); ok || string(b) != "x" {
			t.Errorf("flag %q: %q %v", f, b, ok)
		}
	}
}

// FuzzWireEnvelope compares Wire's envelope with go-imap's on any strings.
func FuzzWireEnvelope(f *testing.F) {
	f.Add("subject", "Name", "box", "host.test", "id@x", "r@y", int64(1700000000), -3600, false)
	f.Add("ünï \"q\" \\", "Çé", "ünï", "h", "", "a\r\nb", int64(0), 0, true)
	f.Add(strings.Repeat("a", 4097), "", "", "", strings.Repeat("b", 4095), "", int64(-5), 50400, false)
	gs := [2]*goIMAPWire{startGoIMAPWire(f, false), startGoIMAPWire(f, true)}
	f.Fuzz(func(t *testing.T, subject, name, mailbox, host, msgID, inReplyTo string, date int64, off int, utf8 bool) {
		u := 0
		if utf8 {
			u = 1
		}
		env := &goimap.Envelope{Subject: subject, MessageID: msgID,
			From: []goimap.Address{{Name: name, Mailbox: mailbox, Host: host}}}
		if date != 0 {
			env.Date = time.Unix(date%(1<<40), 0).In(time.FixedZone("", off%86400))
		}
		if inReplyTo != "" {
			env.InReplyTo = []string{inReplyTo, name}
		}
		c := &wireCase{seq: 1, uid: 9, flags: []string{`\Seen`}, date: time.Unix(date%(1<<40), 0).UTC(), size: int64(len(subject)), env: env}
		want := gs[u].fetch(t, c)
		if got := c.ours(Wire{QuotedUTF8: utf8}); !bytes.Equal(got, want) {
			t.Errorf("\n got %q\nwant %q", got, want)
		}
	})
}
