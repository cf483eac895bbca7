package junk

import (
	"slices"
	"strings"
	"testing"
)

func crlf(s string) []byte { return []byte(strings.ReplaceAll(s, "\n", "\r\n")) }

func TestTokenizeFeatures(t *testing.T) {
	msg := crlf(`Authentication-Results: mx.example.org;
	spf=pass smtp.mailfrom=news@shop.example;
	dkim=pass header.d=shop.example header.s=sel;
	dmarc=pass header.from=shop.example
Received: from relay.shop.example (relay.shop.example [192.0.2.17])
	by mx.example.org with ESMTP; Mon, 1 Jan 2024 00:00:00 +0000
X-Spam-Status: No, score=0.00
From: =?utf-8?q?Gr=C3=BC=C3=9Fe_Shop?= <news@shop.example>
Subject: =?iso-8859-1?q?Sch=F6ne_Angebote?=
Message-ID: <abc@mailer.shop.example>
Content-Type: multipart/mixed; boundary=b1

--b1
Content-Type: text/html; charset=iso-8859-1
Content-Transfer-Encoding: quoted-printable

<html><body><p>Gro=DFe Rabatte</p><a href=3D"https://www.deals.example.net/x">hier</a><script>var hidden=1</script></body></html>
--b1
Content-Type: application/octet-stream; name="invoice.exe"
Content-Disposition: attachment; filename="invoice.exe"
Content-Transfer-Encoding: base64

TVqQAAMAAAAEAAAA
--b1--
`)
	toks := Tokenize(msg)
	for _, want := range []string{
		"s:schöne", "s:angebote", "fromn:grüße", "from:shop.example", "dkim:shop.example", "auth:spf:pass",
		"rh:relay.shop.example", "ip:192.0.2", "mid:mailer.shop.example", "große", "rabatte",
		"url:www.deals.example.net", "url:org:example.net", "tag:script", "ext:exe", "att:application/octet-stream",
		"pt:text/html", "cte:base64",
	} {
		if !slices.Contains(toks, want) {
			t.Errorf("missing token %q in %q", want, toks)
		}
	}
	for _, tok := range toks {
		if strings.Contains(tok, "x-spam") || strings.Contains(tok, "score=") || tok == "hidden" {
			t.Errorf("token %q must not be learned", tok)
		}
	}
}

func TestTokenizeBounded(t *testing.T) {
	// message/rfc822 nested far deeper than maxDepth, with no multipart.
	var b strings.Builder
	for range 2000 {
		b.WriteString("Content-Type: message/rfc822\r\n\r\n")
	}
	b.WriteString("Subject: inner\r\n\r\ndeep words here\r\n")
	toks := Tokenize([]byte(b.String()))
	if !slices.Contains(toks, "bad:depth") {
		t.Errorf("no depth bound hit: %v", toks)
	}
	// Many parts.
	b.Reset()
	b.WriteString("Content-Type: multipart/mixed; boundary=x\r\n\r\n")
	for range 5000 {
		b.WriteString("--x\r\nContent-Type: text/plain\r\n\r\nword\r\n")
	}
	b.WriteString("--x--\r\n")
	toks = Tokenize([]byte(b.String()))
	if !slices.Contains(toks, "bad:parts") {
		t.Errorf("no parts bound hit")
	}
	// Huge text: tokens capped.
	big := "Subject: x\r\n\r\n" + strings.Repeat("alpha beta gamma delta word1234 ", 200000)
	toks = Tokenize([]byte(big))
	if len(toks) > maxTokens {
		t.Errorf("%d tokens, want at most %d", len(toks), maxTokens)
	}
}

func TestTokenizeGarbage(t *testing.T) {
	for _, in := range []string{"", "\r\n", "no header at all", "Subject: x", "Content-Type: multipart/mixed\r\n\r\nno boundary",
		"Content-Type: text/plain; charset=x-unknown\r\n\r\nbody words", "Content-Transfer-Encoding: base64\r\n\r\n!!!!"} {
		Tokenize([]byte(in)) // must not panic
	}
	if toks := Tokenize([]byte("Content-Type: text/plain; charset=x-unknown\r\n\r\nbody words")); !slices.Contains(toks, "body") {
		t.Errorf("unknown charset: body not read: %v", toks)
	}
}

func TestKeyIgnoresTraceFields(t *testing.T) {
	a := crlf("Message-ID: <1@x>\nSubject: s\n\nbody\n")
	b := crlf("Return-Path: <a@b>\nX-Spam-Score: 3\nMessage-ID: <1@x>\nSubject: s\n\nbody\n")
	c := crlf("Message-ID: <2@x>\nSubject: s\n\nbody\n")
	if Key(a) != Key(b) {
		t.Error("trace fields changed the key")
	}
	if Key(a) == Key(c) {
		t.Error("different Message-IDs, same key")
	}
}

// The walk is store/mailparse's: the signs of hand-made mail that
// go-message's reader used to report are kept (a multipart without its
// close delimiter, a header line that is no field, 8-bit bytes in a
// us-ascii part), and an encoded attachment name still gives its type.
func TestTokenizeMailparseWalk(t *testing.T) {
	cases := []struct {
		name, msg string
		want      []string
		not       []string
	}{
		{"no close delimiter", "Subject: offer\nContent-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\ncheap pills\n",
			[]string{"bad:part", "cheap", "s:offer"}, nil},
		{"close delimiter with text after it", "Content-Type: multipart/mixed; boundary=b\n\n--b\n\nwords here\n--b--</BODY>\n",
			[]string{"bad:part"}, nil},
		{"closed", "Content-Type: multipart/mixed; boundary=b\n\n--b\n\nwords here\n--b--\n",
			[]string{"words"}, []string{"bad:part"}},
		{"header line that is no field", "Subject: hello there\nthis is not a field\nFrom: A <a@spam.example>\n\nbody text\n",
			[]string{"bad:header", "s:hello", "from:spam.example", "body"}, nil},
		{"8-bit in us-ascii", "Content-Type: text/plain; charset=us-ascii\n\nprix r\xe9duit\n",
			[]string{"bad:utf8"}, nil},
		{"encoded attachment name", "Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: application/octet-stream\nContent-Disposition: attachment; filename=\"=?utf-8?q?rechnung.zip?=\"\n\nPK\n--b--\n",
			[]string{"ext:zip", "att:application/octet-stream"}, nil},
		{"latin-1 decoded", "Content-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: quoted-printable\n\nsch=F6ne Gr=FC=DFe\n",
			[]string{"schöne", "grüße"}, []string{"bad:utf8", "bad:charset"}},
	}
	for _, c := range cases {
		toks := Tokenize(crlf(c.msg))
		for _, w := range c.want {
			if !slices.Contains(toks, w) {
				t.Errorf("%s: missing %q in %q", c.name, w, toks)
			}
		}
		for _, w := range c.not {
			if slices.Contains(toks, w) {
				t.Errorf("%s: unexpected %q in %q", c.name, w, toks)
			}
		}
	}
}

// The MX's own junk verdict (ARMethod) is never a feature, wherever it
// stands: a copy trains as the message it was scored from.
func TestTokenizeIgnoresVerdict(t *testing.T) {
	base := "Authentication-Results: mx.example.org; spf=pass smtp.mailfrom=a@shop.example;\n" +
		"\tdkim=pass header.d=shop.example\nFrom: <a@shop.example>\nSubject: Deals\n\nCheap deals today\n"
	want := Tokenize(crlf(base))
	slices.Sort(want)
	for _, msg := range []string{
		"Authentication-Results: mx.example.org; x-authsmtp-junk=spam policy.score=0.990 policy.model=user\n" + base,
		"Authentication-Results: mx.example.org;\n\tX-AuthSMTP-Junk = ham policy.score=0.010\n" + base,
		strings.Replace(base, "header.d=shop.example\n", "header.d=shop.example;\n\tx-authsmtp-junk=spam policy.score=0.990\n", 1),
	} {
		got := Tokenize(crlf(msg))
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("tokens of\n%s\n%q\nwant %q", msg, got, want)
		}
	}
	if !slices.Contains(want, "dkim:shop.example") {
		t.Fatalf("the server's results were not read: %q", want)
	}
	if VerdictOnly("mx.example.org; spf=pass; x-authsmtp-junk=spam") || !VerdictOnly("mx.example.org; x-authsmtp-junk=none") || VerdictOnly("mx.example.org; none") {
		t.Error("VerdictOnly")
	}
}
