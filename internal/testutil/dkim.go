package testutil

import (
	"bytes"
	"fmt"
	"testing"

	msgdkim "github.com/emersion/go-msgauth/dkim"

	"github.com/authsmtp/authsmtp/store"
	"github.com/authsmtp/authsmtp/store/reports"
)

// DKIMLookup publishes every DKIM key of domain in st, as `domain dns`
// prints them: a LookupTXT for go-msgauth's dkim.VerifyOptions.
func DKIMLookup(t testing.TB, st *store.Store, domain string) func(string) ([]string, error) {
	t.Helper()
	set, err := st.DKIMKeys(domain)
	if err != nil {
		t.Fatal(err)
	}
	recs := map[string]string{}
	for _, k := range set.Keys {
		txt, err := k.TXT()
		if err != nil {
			t.Fatal(err)
		}
		recs[k.Selector+"._domainkey."+domain] = txt
	}
	return func(name string) ([]string, error) {
		if v, ok := recs[name]; ok {
			return []string{v}, nil
		}
		return nil, fmt.Errorf("no TXT for %s", name)
	}
}

// ReportMail reads a report mail we sent as its receiver would: the DKIM
// signatures must verify for signer with st's published keys, and our
// own report reader (store/reports) must find a report of kind in it.
func ReportMail(t testing.TB, st *store.Store, signer string, mail []byte, kind reports.Kind) *reports.Found {
	t.Helper()
	verifs, err := msgdkim.VerifyWithOptions(bytes.NewReader(mail), &msgdkim.VerifyOptions{LookupTXT: DKIMLookup(t, st, signer)})
	if err != nil || len(verifs) == 0 {
		t.Fatalf("DKIM: %v %v", verifs, err)
	}
	for _, v := range verifs {
		if v.Err != nil || v.Domain != signer {
			t.Errorf("DKIM signature of %s: %v", v.Domain, v.Err)
		}
	}
	f, err := reports.Extract(mail, kind, reports.Limits{})
	if err != nil {
		t.Fatalf("our own reader refuses our %s report: %v\n%s", kind, err, mail)
	}
	return f
}
