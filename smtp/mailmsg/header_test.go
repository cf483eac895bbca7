package mailmsg

import (
	"errors"
	"strings"
	"testing"
)

func TestBareNewline(t *testing.T) {
	for in, want := range map[string]int{"": -1, "a\r\nb\r\n": -1, "a\nb": 1, "a\rb": 1, "a\r\n\r": 3, "\r\n\n": 2} {
		if got := BareNewline([]byte(in)); got != want {
			t.Errorf("BareNewline(%q) = %d, want %d", in, got, want)
		}
		strip := strings.NewReplacer("\r\n", "", "\r", "", "\n", "")
		if n := NormalizeCRLF([]byte(in)); BareNewline(n) != -1 || strip.Replace(string(n)) != strip.Replace(in) {
			t.Errorf("NormalizeCRLF(%q) = %q", in, n)
		}
	}
}

func TestScan(t *testing.T) {
	msg := "From: John\r\n <john@doe.test>\r\nX-Copyright(C): 2002\r\n>Received: odd\r\nSubject: =?utf-8?q?h=C3=A9?=\r\nFrom: second@doe.test\r\n\r\nbody\r\nFrom: not a header\r\n"
	h, err := Scan([]byte(msg))
	if err != nil || h.Problem != nil {
		t.Fatal(err, h.Problem)
	}
	if got := h.Values("from"); len(got) != 2 || got[0] != "John <john@doe.test>" || got[1] != "second@doe.test" {
		t.Errorf("From values %q", got)
	}
	if got := msg[h.Body:]; got != "body\r\nFrom: not a header\r\n" {
		t.Errorf("body %q", got)
	}
	if h.Subject() != "hé" || h.Count("From") != 2 || !h.Has(">received") || h.Has("Date") {
		t.Errorf("subject %q, counts wrong", h.Subject())
	}
	var raw string
	for _, f := range h.Fields {
		raw += string(f.Raw)
	}
	if raw+"\r\n" != msg[:h.Body] {
		t.Errorf("fields do not cover the header: %q", raw)
	}
}

func TestScanProblems(t *testing.T) {
	for _, m := range []string{"From john\r\n\r\nx", " cont\r\nFrom: a@b\r\n\r\n", "Fr\x01om: a@b\r\n\r\n"} {
		h, err := Scan([]byte(m))
		if err != nil || h.Problem == nil {
			t.Errorf("%q: err %v, problem %v", m, err, h.Problem)
		}
	}
	// No empty line: all header.
	h, _ := Scan([]byte("From: a@b\r\nTo: c@d"))
	if h.Body != len("From: a@b\r\nTo: c@d") || h.Get("To") != "c@d" {
		t.Errorf("unterminated header: %+v", h)
	}
	for _, m := range []string{
		"From: a@b\r\n" + strings.Repeat("To: x@y.z\r\n", MaxHeaderFields) + "\r\n",
		"X: " + strings.Repeat("a", MaxHeaderBytes) + "\r\n\r\n",
		"X: a" + strings.Repeat("\r\n a", MaxHeaderBytes/3) + "\r\n\r\n",
	} {
		if _, err := Scan([]byte(m)); !errors.Is(err, ErrHeaderTooLarge) {
			t.Errorf("len %d: err %v", len(m), err)
		}
	}
}

func FuzzScan(f *testing.F) {
	f.Add([]byte("From: a@b\r\n\r\nbody"))
	f.Add([]byte("From: x\r\n y\r\n\r\n"))
	f.Add([]byte(" \r\n:\r\n\r\n"))
	f.Fuzz(func(t *testing.T, msg []byte) {
		if BareNewline(msg) >= 0 {
			msg = NormalizeCRLF(msg)
		}
		h, err := Scan(msg)
		if err != nil {
			return
		}
		if h.Body > len(msg) {
			t.Fatalf("body offset %d past %d", h.Body, len(msg))
		}
		n := 0
		for _, f := range h.Fields {
			n += len(f.Raw)
			f.Value()
		}
		if n > h.Body {
			t.Fatalf("fields %d bytes, header %d", n, h.Body)
		}
		if ds := h.FromDomains(); len(ds) > maxFromDomains {
			t.Fatalf("%d From: domains", len(ds))
		}
	})
}

// TestFromDomains: the author domains of real-world From: fields.
func TestFromDomains(t *testing.T) {
	for from, want := range map[string]string{
		"From: =?Big5?B?qfap9qXNrKG69A==?= <ee@enews.com.tw>":       "enews.com.tw",
		"From: =?x-unknown?B?qfap9qXNrKG69A==?= <ee@Enews.com.tw>":  "enews.com.tw",
		"From: \"Nils O. Sel\xe5sdal\" <noselasd@Utel.no>":          "utel.no",
		"X-Copyright(C): 2002\r\n>Received: x\r\nFrom: a@b.example": "b.example",
		"From: DONT@c.example, PAY@c.example, x@d.example":          "c.example d.example",
		"From: a@b.example\r\nFrom: c@d.example":                    "b.example d.example",
		"From: \"\" <>":                                             "",
		"From: zvfjenphuq@[1086695621], [ufa]@netnoteinc.com":       "netnoteinc.com",
		"Subject: no from":                                          "",
	} {
		h, err := Scan([]byte(from + "\r\n\r\nbody\r\n"))
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(h.FromDomains(), " "); got != want {
			t.Errorf("%q: FromDomains = %q, want %q", from, got, want)
		}
	}
}
