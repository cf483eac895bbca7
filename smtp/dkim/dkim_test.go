package dkim

import (
	"bytes"
	"io"
	"log/slog"
	"strings"
	"testing"

	msgdkim "github.com/emersion/go-msgauth/dkim"

	"github.com/authsmtp/authsmtp/internal/testutil"
	"github.com/authsmtp/authsmtp/store"
)

func newStore(t *testing.T) *store.Store {
	st, err := store.Open(t.TempDir(), store.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if _, err := st.AddDomain("a.test"); err != nil {
		t.Fatal(err)
	}
	return st
}

const body = "From: Alice <alice@a.test>\r\nTo: bob@b.test\r\nSubject: hi\r\nDate: Fri, 27 Nov 2026 10:00:00 +0000\r\nMessage-ID: <1@a.test>\r\n\r\nHello Bob.\r\n"

func TestSignBothKeysVerify(t *testing.T) {
	st := newStore(t)
	signed, err := New(st).Sign([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(signed), "DKIM-Signature:"); n != 2 {
		t.Fatalf("%d signatures, want 2 (ed25519 and RSA)", n)
	}
	vs, err := msgdkim.VerifyWithOptions(bytes.NewReader(signed), &msgdkim.VerifyOptions{LookupTXT: testutil.DKIMLookup(t, st, "a.test")})
	if err != nil || len(vs) != 2 {
		t.Fatalf("verify: %v, %d results", err, len(vs))
	}
	for _, v := range vs {
		if v.Err != nil || v.Domain != "a.test" {
			t.Errorf("verification %+v", v)
		}
	}
	// A changed body no longer verifies.
	tampered := bytes.Replace(signed, []byte("Hello Bob."), []byte("Hello Eve."), 1)
	vs, _ = msgdkim.VerifyWithOptions(bytes.NewReader(tampered), &msgdkim.VerifyOptions{LookupTXT: testutil.DKIMLookup(t, st, "a.test")})
	for _, v := range vs {
		if v.Err == nil {
			t.Errorf("tampered message verified")
		}
	}
}

func TestSignOnlyHostedFrom(t *testing.T) {
	st := newStore(t)
	other := strings.Replace(body, "alice@a.test", "alice@other.test", 1)
	out, err := New(st).Sign([]byte(other))
	if err != nil || string(out) != other {
		t.Fatalf("a foreign From: was signed or changed: %v", err)
	}
	two := "From: a@a.test\r\nFrom: b@a.test\r\n\r\nx\r\n"
	if out, _ := New(st).Sign([]byte(two)); string(out) != two {
		t.Errorf("a message with two From: fields was signed")
	}
}

func TestRotateSignsWithNewKeysOldStayPublished(t *testing.T) {
	st := newStore(t)
	before, _ := st.DKIMKeys("a.test")
	set, err := st.RotateDKIM("a.test")
	if err != nil {
		t.Fatal(err)
	}
	if len(set.Keys) != 4 {
		t.Fatalf("%d keys after rotation, want 4 (2 new, 2 old)", len(set.Keys))
	}
	signed, err := New(st).Sign([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range before.Keys {
		if strings.Contains(string(signed), "s="+k.Selector+";") {
			t.Errorf("signed with the old selector %s", k.Selector)
		}
	}
	vs, _ := msgdkim.VerifyWithOptions(bytes.NewReader(signed), &msgdkim.VerifyOptions{LookupTXT: testutil.DKIMLookup(t, st, "a.test")})
	if len(vs) != 2 || vs[0].Err != nil || vs[1].Err != nil {
		t.Errorf("rotated signatures do not verify: %+v", vs)
	}
	if err := st.RemoveDKIMSelector("a.test", set.Keys[0].Selector); err == nil {
		t.Error("removed a key in use")
	}
	if err := st.RemoveDKIMSelector("a.test", before.Keys[0].Selector); err != nil {
		t.Errorf("removing an old key: %v", err)
	}
	if err := st.RemoveDomain("a.test"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.DKIMKeys("a.test"); err == nil {
		t.Error("keys of a removed domain are still there")
	}
}
