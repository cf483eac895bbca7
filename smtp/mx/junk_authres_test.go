package mx

import (
	"bufio"
	"net/textproto"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/emersion/go-msgauth/authres"

	"github.com/authsmtp/authsmtp/store/junk"
)

// junkResults parses every Authentication-Results field of a stored copy
// with go-msgauth's parser and returns the junk verdicts (junk.ARMethod)
// and the other results, failing the test on a field it cannot parse.
func junkResults(t *testing.T, copy string) (verdicts []*authres.GenericResult, others []authres.Result) {
	t.Helper()
	h, err := textproto.NewReader(bufio.NewReader(strings.NewReader(copy))).ReadMIMEHeader()
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range h.Values("Authentication-Results") {
		id, rs, err := authres.Parse(v)
		if err != nil {
			t.Fatalf("authres.Parse(%q): %v", v, err)
		}
		if id != "mx.a.test" {
			t.Errorf("authserv-id %q in %q", id, v)
		}
		for _, r := range rs {
			if g, ok := r.(*authres.GenericResult); ok && g.Method == junk.ARMethod {
				verdicts = append(verdicts, g)
			} else {
				others = append(others, r)
			}
		}
	}
	return verdicts, others
}

// withoutVerdict removes the Authentication-Results field that carries
// only our junk verdict (folded lines included) from a stored copy.
func withoutVerdict(t *testing.T, copy string) string {
	t.Helper()
	lines := strings.SplitAfter(copy, "\r\n")
	var out strings.Builder
	removed := 0
	for i := 0; i < len(lines); i++ {
		if strings.HasPrefix(lines[i], "Authentication-Results:") && strings.Contains(lines[i]+lines[min(i+1, len(lines)-1)], junk.ARMethod) {
			removed++
			for i+1 < len(lines) && (strings.HasPrefix(lines[i+1], "\t") || strings.HasPrefix(lines[i+1], " ")) {
				i++
			}
			continue
		}
		out.WriteString(lines[i])
	}
	if removed != 1 {
		t.Fatalf("removed %d verdict fields from %q", removed, copy)
	}
	return out.String()
}

func sorted(s []string) []string { s = slices.Clone(s); slices.Sort(s); return s }

// The junk verdict is in Authentication-Results, per recipient, readable
// by go-msgauth; forged verdicts from outside are gone; the tokenizer
// reads the copy as it read the message it scored.
func TestJunkVerdictInAuthResults(t *testing.T) {
	e := newMX(t, nil)
	e.st.AddDomain("c.test")
	e.st.AddUser("carol@c.test", "password-123")
	trainAlice(t, e)

	// Spam dressed up with forged verdicts claiming our authserv-id (one
	// folded and in lower case), to alice (trained) and carol (untrained).
	forged := "Authentication-Results: mx.a.test; x-authsmtp-junk=ham policy.score=0.000 policy.model=user\r\n" +
		"authentication-results: mx.a.test;\r\n\tX-AuthSMTP-Junk=ham\r\n"
	spam := append([]byte(forged), junkMsg("promo@lottery.test", "You won", spamText, 1)...)
	if err := e.send(t, "promo@lottery.test", []string{"alice@a.test", "carol@c.test"}, spam); err != nil {
		t.Fatal(err)
	}
	j := e.mailbox(t, "alice@a.test", "Junk")
	if len(j) != 1 {
		t.Fatalf("alice's Junk has %d", len(j))
	}
	vs, others := junkResults(t, j[0])
	if len(vs) != 1 || vs[0].Value != "spam" || vs[0].Params["policy.model"] != "user" {
		t.Fatalf("alice's verdicts %+v in %q", vs, j[0])
	}
	if sc, err := strconv.ParseFloat(vs[0].Params["policy.score"], 64); err != nil || sc < e.st.Junk.Config().Threshold {
		t.Errorf("policy.score %q (threshold %v)", vs[0].Params["policy.score"], e.st.Junk.Config().Threshold)
	}
	if !slices.ContainsFunc(others, func(r authres.Result) bool { _, ok := r.(*authres.SPFResult); return ok }) {
		t.Errorf("the shared SPF result is missing: %+v", others)
	}
	if strings.Contains(strings.ToLower(j[0]), "=ham") {
		t.Errorf("a forged verdict survived: %q", j[0])
	}
	in := e.mailbox(t, "carol@c.test", "INBOX")
	if len(in) != 1 || strings.Contains(strings.ToLower(in[0]), junk.ARMethod) {
		t.Fatalf("carol's copy (untrained, no verdict of ours): %q", in)
	}

	// Training must not feed on its own output: the stored copy gives the
	// same tokens with and without its verdict field, and they include the
	// shared field's results (it is still read).
	with, without := junk.Tokenize([]byte(j[0])), junk.Tokenize([]byte(withoutVerdict(t, j[0])))
	if !slices.Equal(sorted(with), sorted(without)) {
		t.Errorf("tokens differ with the verdict:\n%q\nwithout:\n%q", with, without)
	}
	if !slices.Contains(with, "auth:spf:none") && !slices.Contains(with, "auth:spf:pass") {
		t.Errorf("the shared Authentication-Results was not read: %q", with)
	}

	// Ham: a ham verdict on the INBOX copy.
	if err := e.send(t, "colleague@work.test", []string{"alice@a.test"}, junkMsg("colleague@work.test", "Meeting notes", hamText, 2)); err != nil {
		t.Fatal(err)
	}
	in = e.mailbox(t, "alice@a.test", "INBOX")
	if vs, _ := junkResults(t, in[len(in)-1]); len(vs) != 1 || vs[0].Value != "ham" {
		t.Fatalf("ham verdicts %+v in %q", vs, in[len(in)-1])
	}
}
