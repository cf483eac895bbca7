package goimapfix

import (
	"bufio"
	"net"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	goimap "github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"
)

// TestGoIMAPAssumptions checks, in go-imap itself, what the workarounds
// of this package rely on. If it fails after a go-imap upgrade, read the
// piece named in the failure (doc.go lists them) before anything else.
func TestGoIMAPAssumptions(t *testing.T) {
	t.Run("ExpungeWriterConnField", func(t *testing.T) {
		// IsCloseExpunge reads this field by reflection.
		f, ok := reflect.TypeOf(imapserver.ExpungeWriter{}).FieldByName(expungeConnField)
		if !ok || f.Type.Kind() != reflect.Pointer {
			t.Fatalf("imapserver.ExpungeWriter has no pointer field %q (found %v): IsCloseExpunge can no longer tell CLOSE from EXPUNGE", expungeConnField, f.Type)
		}
		if !IsCloseExpunge(&imapserver.ExpungeWriter{}) {
			t.Error("a writer without a connection (CLOSE's) is not taken for CLOSE")
		}
	})
	t.Run("HandOff", testHandOff)
}

// testHandOff runs go-imap's server over a Listener and a Conn on a real
// loopback connection: go-imap's PREAUTH greeting is one line that never
// reaches the client, commands reach go-imap, the Filter answers ID, and
// a revoked login gets BYE at its next command.
func testHandOff(t *testing.T) {
	mem := imapmemserver.New()
	user := imapmemserver.NewUser("ann", "pw")
	mem.AddUser(user)
	if err := user.Create("INBOX", nil); err != nil {
		t.Fatal(err)
	}
	var sawConn atomic.Bool
	srv := imapserver.New(&imapserver.Options{
		NewSession: func(c *imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			_, ok := c.NetConn().(*Conn)
			sawConn.Store(ok)
			return imapmemserver.NewUserSession(user), &imapserver.GreetingData{PreAuth: true}, nil
		},
		Caps: goimap.CapSet{goimap.CapIMAP4rev1: {}},
	})
	hl := NewListener()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(hl) }()
	t.Cleanup(func() {
		hl.Close()
		<-hl.Started
		srv.Close()
		<-served
	})

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var revoked atomic.Bool
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		hc := NewConn(c, bufio.NewReader(c), revoked.Load)
		hc.User = "ann"
		if !hl.HandOff(hc) {
			c.Close()
		}
	}()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	client.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(client)
	send := func(line string) {
		t.Helper()
		if _, err := client.Write([]byte(line + "\r\n")); err != nil {
			t.Fatal(err)
		}
	}
	// expect reads lines up to the tagged one and returns them all.
	expect := func(tag string) []string {
		t.Helper()
		var lines []string
		for {
			l, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("reading the answer to %s: %v (so far %q)", tag, err, lines)
			}
			lines = append(lines, strings.TrimRight(l, "\r\n"))
			if strings.HasPrefix(l, tag+" ") {
				return lines
			}
		}
	}

	send("a NOOP")
	got := expect("a")
	if strings.Contains(got[0], "PREAUTH") || !strings.HasPrefix(got[len(got)-1], "a OK") {
		t.Fatalf("first answers %q: go-imap's greeting must be one line that Conn swallows, then its answer to NOOP", got)
	}
	if !sawConn.Load() {
		t.Error("go-imap's connection is not our Conn: the hand-off does not reach the session")
	}
	send("b SELECT INBOX")
	if got := expect("b"); !strings.HasPrefix(got[len(got)-1], "b OK") {
		t.Fatalf("SELECT after the hand-off: %q (the session did not start authenticated)", got)
	}
	send("c ID NIL")
	if got := expect("c"); got[0] != IDResponse || !strings.HasPrefix(got[1], "c OK") {
		t.Errorf("ID after login: %q, want the Filter's answer", got)
	}
	revoked.Store(true)
	send("d NOOP")
	l, _ := r.ReadString('\n')
	if l != RevokedBye {
		t.Errorf("a command after revocation got %q, want the BYE", l)
	}
	if _, err := r.ReadString('\n'); err == nil {
		t.Error("the connection stayed open after the BYE")
	}
}
