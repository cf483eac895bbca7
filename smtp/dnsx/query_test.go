package dnsx

import (
	"testing"

	"github.com/miekg/dns"
	"golang.org/x/net/dns/dnsmessage"
)

// FuzzTXTString: whatever bytes a TXT character-string carries on the
// wire, txtString gives them back from miekg/dns's escaped form.
func FuzzTXTString(f *testing.F) {
	for _, s := range []string{"v=spf1 -all", `a"b\c`, "\x00\x7f\xff", `\065`, "é;x", "\\"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		if len(raw) > 255 {
			raw = raw[:255]
		}
		b := dnsmessage.NewBuilder(nil, dnsmessage.Header{Response: true})
		b.StartQuestions()
		b.StartAnswers()
		name := dnsmessage.MustNewName("t.test.")
		if err := b.TXTResource(dnsmessage.ResourceHeader{Name: name, Class: dnsmessage.ClassINET, TTL: 60},
			dnsmessage.TXTResource{TXT: []string{string(raw)}}); err != nil {
			t.Skip(err)
		}
		wire, err := b.Finish()
		if err != nil {
			t.Skip(err)
		}
		var m dns.Msg
		if err := m.Unpack(wire); err != nil {
			t.Fatalf("miekg/dns cannot unpack a TXT of %q: %v", raw, err)
		}
		got := txtString(m.Answer[0].(*dns.TXT).Txt[0])
		if got != string(raw) {
			t.Fatalf("txtString(%q) = %q, want %q", m.Answer[0].(*dns.TXT).Txt[0], got, raw)
		}
	})
}
