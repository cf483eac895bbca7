package smtp

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/authsmtp/authsmtp/internal/testutil"
	"github.com/authsmtp/authsmtp/smtp/mailmsg"
	"github.com/authsmtp/authsmtp/store"
)

func pipelineEnv(t *testing.T) (*store.Store, *Pipeline) {
	st := testutil.Store(t)
	testutil.Domain(t, st, "doe.com", domPW, true)
	testutil.User(t, st, "john@doe.com", userPW)
	testutil.User(t, st, "jane@doe.com", "Jan-pass-h3Y!p")
	return st, NewPipeline(st, "mail.test", testutil.Logger(t))
}

var john = store.Principal{Kind: store.KindUser, Domain: "doe.com", Address: "john@doe.com"}

func stored(t *testing.T, st *store.Store, acc *store.Accepted) string {
	t.Helper()
	b, err := st.Body(acc.Local[0].BodyID)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestPipelineFixups: Received always, Date and Message-ID only when missing.
func TestPipelineFixups(t *testing.T) {
	st, p := pipelineEnv(t)
	ctx := WithTrace(context.Background(), Trace{Helo: "laptop (evil);", IP: "192.0.2.7", Protocol: "HTTPSA"})
	acc, err := p.Submit(ctx, john, "john@doe.com", []string{"jane@doe.com"}, []byte("From: john@doe.com\r\nSubject: hi\r\n\r\nbody\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	b := stored(t, st, acc)
	for _, want := range []string{"Received: from laptopevil ([192.0.2.7])\r\n\tby mail.test (authsmtp) with HTTPSA;", "\r\nDate: ", "\r\nMessage-ID: <", "@mail.test>\r\n", "\r\nFrom: john@doe.com\r\nSubject: hi\r\n\r\nbody\r\n"} {
		if !strings.Contains(b, want) {
			t.Fatalf("stored message lacks %q:\n%s", want, b)
		}
	}
	acc, err = p.Submit(context.Background(), john, "john@doe.com", []string{"jane@doe.com"},
		[]byte("Message-ID: <mine@doe.com>\r\nDate: Mon, 02 Jan 2006 15:04:05 -0700\r\nFrom: john@doe.com\r\n\r\nx\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	b = stored(t, st, acc)
	if strings.Count(strings.ToLower(b), "message-id:") != 1 || strings.Count(b, "Date:") != 1 || !strings.HasPrefix(b, "Received: by mail.test") {
		t.Fatalf("fix-ups duplicated headers:\n%s", b)
	}
}

type prefixSigner struct{ fail bool }

func (s prefixSigner) SignatureFields(msg []byte) ([]byte, error) {
	if s.fail {
		return nil, errors.New("no key")
	}
	return []byte("DKIM-Signature: v=1; test\r\n"), nil
}

// TestPipelineSignerCapture: the signer sees the fixed-up message; in
// capture mode remote mail is queued as captured.
func TestPipelineSignerCapture(t *testing.T) {
	st, p := pipelineEnv(t)
	p.Signer = prefixSigner{}
	p.Capture = true
	acc, err := p.Submit(context.Background(), john, "john@doe.com", []string{"jane@doe.com", "x@remote.example"}, []byte("From: john@doe.com\r\nSubject: =?utf-8?q?caf=C3=A9?=\r\n\r\nx\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	if b := stored(t, st, acc); !strings.HasPrefix(b, "DKIM-Signature: v=1; test\r\nReceived: ") {
		t.Fatalf("not signed after fix-ups:\n%s", b)
	}
	q, err := st.GetQueue(acc.QueueID)
	if err != nil || !q.Captured || q.Subject != "café" || q.Login != "john@doe.com" {
		t.Fatalf("queue entry %+v %v", q, err)
	}
	// Mail that stays on this host is not signed.
	acc, err = p.Submit(context.Background(), john, "john@doe.com", []string{"jane@doe.com"}, []byte("From: john@doe.com\r\n\r\nx\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	if b := stored(t, st, acc); strings.Contains(b, "DKIM-Signature") {
		t.Fatalf("local-only mail signed:\n%s", b)
	}
	p.Signer = prefixSigner{fail: true}
	_, err = p.Submit(context.Background(), john, "john@doe.com", []string{"x@remote.example"}, []byte("From: john@doe.com\r\n\r\nx\r\n"))
	wantCode(t, err, "451 4.3.0")
}

// TestPipelineRefusals: what webmail sees for each refusal.
func TestPipelineRefusals(t *testing.T) {
	_, p := pipelineEnv(t)
	ok := []byte("From: john@doe.com\r\n\r\nx\r\n")
	admin := store.Principal{Kind: store.KindAdmin}
	for _, tc := range []struct {
		name  string
		who   store.Principal
		from  string
		rcpts []string
		msg   []byte
		code  string
	}{
		{"admin cannot send", admin, "john@doe.com", []string{"jane@doe.com"}, ok, "530 5.7.0"},
		{"no recipients", john, "john@doe.com", nil, ok, "554 5.5.1"},
		{"envelope out of scope", john, "jane@doe.com", []string{"jane@doe.com"}, ok, "553 5.7.1"},
		{"bare LF", john, "john@doe.com", []string{"jane@doe.com"}, []byte("From: john@doe.com\n\nx\n"), "550 5.5.2"},
		{"unknown hosted user", john, "john@doe.com", []string{"ghost@doe.com"}, ok, "550 5.1.1"},
		{"bad recipient", john, "john@doe.com", []string{"not an address"}, ok, "553 5.1.3"},
		{"header without colon", john, "john@doe.com", []string{"jane@doe.com"}, []byte("From john\r\n\r\nx\r\n"), "550 5.6.0"},
		{"too many fields", john, "john@doe.com", []string{"jane@doe.com"}, []byte(strings.Repeat("To: a@b.c\r\n", 3000) + "From: john@doe.com\r\n\r\n"), "550 5.6.0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := p.Submit(context.Background(), tc.who, tc.from, tc.rcpts, tc.msg)
			wantCode(t, err, tc.code)
		})
	}
	// NormalizeCRLF makes the bare-LF message acceptable for webmail.
	if _, err := p.Submit(context.Background(), john, "john@doe.com", []string{"jane@doe.com"}, mailmsg.NormalizeCRLF([]byte("From: john@doe.com\n\nx\r\ny\r"))); err != nil {
		t.Fatal(err)
	}
}

// TestHeaderBombs: 100k To: lines and a 10 MB header are refused quickly.
func TestHeaderBombs(t *testing.T) {
	_, p := pipelineEnv(t)
	for name, m := range map[string][]byte{
		"100k To lines": []byte("From: john@doe.com\r\n" + strings.Repeat("To: x@y.z\r\n", 100000) + "\r\nx\r\n"),
		"10 MB header":  []byte("From: john@doe.com\r\nX-Big: " + strings.Repeat("a", 10<<20) + "\r\n\r\nx\r\n"),
		"10 MB folded":  []byte("From: john@doe.com\r\nX-Big: a" + strings.Repeat("\r\n a", 3<<20) + "\r\n\r\nx\r\n"),
	} {
		start := time.Now()
		_, err := p.Submit(context.Background(), john, "john@doe.com", []string{"jane@doe.com"}, m)
		wantCode(t, err, "550 5.6.0")
		t.Logf("%s: %v", name, time.Since(start))
		// A second without -race; the race detector slows the per-line
		// scan of 3M folded lines about tenfold.
		limit := time.Second
		if testutil.Race {
			limit = 10 * time.Second
		}
		if d := time.Since(start); d > limit {
			t.Fatalf("%s took %v", name, d)
		}
	}
}
