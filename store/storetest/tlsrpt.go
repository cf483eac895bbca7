package storetest

import (
	"testing"
	"time"

	"github.com/authsmtp/authsmtp/store"
)

// testTLSResults: outbound TLS results for TLS reports add up per domain,
// day, policy and failure kind; TLSDays cuts at a date; a deleted day is
// gone.
func testTLSResults(t *testing.T, b Backend) {
	day := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	sts := store.TLSResult{Domain: "remote.test", PolicyType: "sts", PolicyStrings: []string{"version: STSv1", "mode: enforce"}, PolicyMX: []string{"mx.remote.test"}}
	fail := sts
	fail.Result, fail.MXHost, fail.ReceivingIP, fail.Count = "starttls-not-supported", "mx.remote.test", "192.0.2.7", 2
	for _, batch := range [][]store.TLSResult{{sts, fail}, {sts, fail, {Domain: "plain.test", PolicyType: "no-policy-found"}}} {
		if err := b.AddTLSResults(day, batch); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.AddTLSResults(day.Add(24*time.Hour), []store.TLSResult{sts}); err != nil {
		t.Fatal(err)
	}
	days, err := b.TLSDays(day.Add(24 * time.Hour))
	if err != nil || len(days) != 2 {
		t.Fatalf("TLSDays: %+v %v", days, err)
	}
	for _, d := range days {
		if d.Domain != "remote.test" {
			continue
		}
		p := d.Policies[0]
		if len(d.Policies) != 1 || p.Success != 2 || p.Failed() != 4 || p.Failures[0].ReceivingIP != "192.0.2.7" || p.MX[0] != "mx.remote.test" {
			t.Fatalf("remote.test: %+v", d)
		}
	}
	if err := b.DeleteTLSDay("2026-11-26", "remote.test"); err != nil {
		t.Fatal(err)
	}
	if all, err := b.TLSDays(time.Time{}); err != nil || len(all) != 2 {
		t.Fatalf("after delete: %+v %v", all, err)
	}
}
