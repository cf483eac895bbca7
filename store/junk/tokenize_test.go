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
