package queue

import (
	"sync"
	"testing"
	"time"

	"github.com/authsmtp/authsmtp/internal/mailtest"
	"github.com/authsmtp/authsmtp/store"
)

type tlsResults struct {
	mu  sync.Mutex
	all []store.TLSResult
}

func (r *tlsResults) add(res store.TLSResult) {
	r.mu.Lock()
	r.all = append(r.all, res)
	r.mu.Unlock()
}

func (r *tlsResults) get() []store.TLSResult {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]store.TLSResult(nil), r.all...)
}

// TestTLSResults: every TLS session with an MX ends as one result for
// TLS reporting, typed as RFC 8460 does, under the policy that applied.
func TestTLSResults(t *testing.T) {
	testingPolicy := "version: STSv1\nmode: testing\nmx: *.remote.test\nmax_age: 86400\n"
	for _, tc := range []struct {
		name       string
		policy     string // MTA-STS policy served, "" none
		tls        string // receiver: "trusted", "untrusted", "none"
		wantType   string
		wantResult string
		delivered  bool
	}{
		{"no policy, TLS", "", "untrusted", "no-policy-found", "", true},
		{"no policy, no STARTTLS", "", "none", "no-policy-found", "starttls-not-supported", true},
		{"sts enforce, trusted", enforce, "trusted", "sts", "", true},
		{"sts enforce, untrusted", enforce, "untrusted", "sts", "certificate-not-trusted", false},
		{"sts enforce, no STARTTLS", enforce, "none", "sts", "starttls-not-supported", false},
		{"sts testing, untrusted", testingPolicy, "untrusted", "sts", "certificate-not-trusted", true},
		{"sts invalid policy", "version: STSv1\nmode: enforce\n", "trusted", "sts", "sts-policy-invalid", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			var port int
			var good, pool = mailtest.SelfSigned(t, "mx.remote.test", "mta-sts.remote.test")
			if tc.policy != "" {
				port, good, pool = stsEnv(t, e, tc.policy)
			}
			var rcv *mailtest.Receiver
			switch tc.tls {
			case "trusted":
				rcv = mailtest.StartReceiver(t, good)
			case "untrusted":
				other, _ := mailtest.SelfSigned(t, "mx.remote.test")
				rcv = mailtest.StartReceiver(t, other)
			default:
				rcv = mailtest.StartReceiver(t, nil)
			}
			var got tlsResults
			e.runner(t, rcv.Port, func(c *Config) {
				c.RootCAs, c.STSPort, c.TLSResults = pool, port, got.add
				c.Schedule = []time.Duration{time.Hour}
			})
			acc, _ := e.st.Accept(&store.Incoming{From: "alice@a.test", Remote: []string{"bob@remote.test"}, Body: msg("alice@a.test", "bob@remote.test", "tlsrpt")})
			deadline := time.Now().Add(10 * time.Second)
			for {
				q, err := e.st.GetQueue(acc.QueueID)
				if err != nil || len(q.Attempts) > 0 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("no attempt")
				}
				time.Sleep(10 * time.Millisecond)
			}
			if n := len(rcv.Messages()); (n == 1) != tc.delivered {
				t.Errorf("delivered %d messages, want delivered=%v", n, tc.delivered)
			}
			var session *store.TLSResult
			for _, r := range got.get() {
				// After a policy that does not parse, the session itself
				// runs under no policy.
				invalidThenNone := tc.wantResult == "sts-policy-invalid" && r.PolicyType == "no-policy-found" && r.Result == ""
				if r.Domain != "remote.test" || r.PolicyType != tc.wantType && !invalidThenNone {
					t.Errorf("result %+v, want domain remote.test, policy %s", r, tc.wantType)
				}
				if r.Result == tc.wantResult && r.PolicyType == tc.wantType {
					session = &r
				}
			}
			if session == nil {
				t.Fatalf("results %+v, none is %q", got.get(), tc.wantResult)
			}
			if tc.wantType == "sts" && tc.wantResult != "sts-policy-invalid" && (len(session.PolicyStrings) < 3 || session.PolicyStrings[0] != "version: STSv1" || session.PolicyMX[0] != "*.remote.test") {
				t.Errorf("sts policy in the result: %+v", session)
			}
		})
	}
}
