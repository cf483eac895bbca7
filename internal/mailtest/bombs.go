package mailtest

import (
	"bytes"
	"fmt"
	"strings"
)

// Hostile messages (SECURITY.md, "Stored mail is hostile too"), made to
// a given size. Each has a From, To and Subject so an MX takes it.

func bombHeader(to, subject string) string {
	return "From: Bomber <bomber@bomb.test>\r\nTo: " + to + "\r\nSubject: " + subject +
		"\r\nDate: Mon, 2 Jan 2023 15:04:05 +0000\r\nMessage-ID: <" + strings.ReplaceAll(subject, " ", ".") + "@bomb.test>\r\n"
}

// RFC822Bomb is a message made only of message/rfc822 parts nested
// levels deep (no multipart anywhere): 32 bytes a level, so 8,000 levels
// are 250 KiB.
func RFC822Bomb(to string, levels int) []byte {
	var b bytes.Buffer
	b.WriteString(bombHeader(to, "rfc822 bomb"))
	b.WriteString("Content-Type: message/rfc822\r\n\r\n")
	for i := 1; i < levels; i++ {
		b.WriteString("Content-Type: message/rfc822\r\n\r\n")
	}
	b.WriteString("Subject: the bottom\r\n\r\nbottom text\r\n")
	return b.Bytes()
}

// DeepMultipart is multipart/mixed nested levels deep, each level with
// its own boundary, a text part at the bottom.
func DeepMultipart(to string, levels int) []byte {
	var b bytes.Buffer
	b.WriteString(bombHeader(to, "deep multipart"))
	for i := 0; i < levels; i++ {
		fmt.Fprintf(&b, "Content-Type: multipart/mixed; boundary=\"b%d\"\r\n\r\n--b%d\r\n", i, i)
	}
	b.WriteString("Content-Type: text/plain\r\n\r\ndeep text\r\n")
	for i := levels - 1; i >= 0; i-- {
		fmt.Fprintf(&b, "--b%d--\r\n", i)
	}
	return b.Bytes()
}

// ManyParts is one multipart/mixed with n small text parts.
func ManyParts(to string, n int) []byte {
	var b bytes.Buffer
	b.WriteString(bombHeader(to, "many parts"))
	b.WriteString("Content-Type: multipart/mixed; boundary=\"p\"\r\n\r\n")
	for i := 0; i < n; i++ {
		b.WriteString("--p\r\n\r\nx\r\n")
	}
	b.WriteString("--p--\r\n")
	return b.Bytes()
}

// HugeHeader is a message whose header holds size bytes of fields.
func HugeHeader(to string, size int) []byte {
	var b bytes.Buffer
	b.WriteString(bombHeader(to, "huge header"))
	line := "X-Filler: " + strings.Repeat("f", 80) + "\r\n"
	for b.Len() < size {
		b.WriteString(line)
	}
	b.WriteString("\r\nbody after a huge header\r\n")
	return b.Bytes()
}

// ManyTo is a message with n To: fields.
func ManyTo(to string, n int) []byte {
	var b bytes.Buffer
	b.WriteString(bombHeader(to, "many to"))
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "To: r%d@bomb.test\r\n", i)
	}
	b.WriteString("\r\nbody after many To: fields\r\n")
	return b.Bytes()
}
