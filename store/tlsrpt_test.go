package store

import (
	"testing"
	"time"
)

// TestTLSResults: results add up per domain, day, policy and failure
// kind; TLSDays lists the days before a date, oldest first; a deleted day
// is gone and survives no reopen.
func TestTLSResults(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	day1 := time.Date(2026, 11, 26, 23, 59, 0, 0, time.UTC)
	day2 := day1.Add(time.Minute)
	sts := TLSResult{Domain: "remote.test", PolicyType: "sts", PolicyStrings: []string{"version: STSv1", "mode: testing"}, PolicyMX: []string{"*.remote.test"}}
	fail := sts
	fail.Result, fail.MXHost, fail.ReceivingIP, fail.SendingIP = "certificate-expired", "mx.remote.test", "192.0.2.1", "198.51.100.1"
	if err := s.AddTLSResults(day1, []TLSResult{sts, sts, fail, {Domain: "other.test", PolicyType: "no-policy-found"}}); err != nil {
		t.Fatal(err)
	}
	fail.Count = 3
	if err := s.AddTLSResults(day1, []TLSResult{fail}); err != nil {
		t.Fatal(err)
	}
	if err := s.AddTLSResults(day2, []TLSResult{sts}); err != nil {
		t.Fatal(err)
	}
	days, err := s.TLSDays(day2)
	if err != nil || len(days) != 2 {
		t.Fatalf("TLSDays before %s: %+v %v", day2.Format(time.DateOnly), days, err)
	}
	var rd TLSDay
	for _, d := range days {
		if d.Day != "2026-11-26" {
			t.Errorf("day %s listed before 2026-11-27", d.Day)
		}
		if d.Domain == "remote.test" {
			rd = d
		}
	}
	if len(rd.Policies) != 1 {
		t.Fatalf("remote.test policies: %+v", rd.Policies)
	}
	p := rd.Policies[0]
	if p.Type != "sts" || p.Success != 2 || p.Failed() != 4 || len(p.Failures) != 1 || p.Failures[0].Count != 4 || p.Failures[0].ReceivingIP != "192.0.2.1" {
		t.Fatalf("remote.test policy: %+v", p)
	}
	if all, _ := s.TLSDays(time.Time{}); len(all) != 3 || all[2].Day != "2026-11-27" {
		t.Fatalf("all days: %+v", all)
	}
	if err := s.DeleteTLSDay("2026-11-26", "remote.test"); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = openTestStore(t, dir)
	if all, _ := s.TLSDays(time.Time{}); len(all) != 2 {
		t.Fatalf("after delete and reopen: %+v", all)
	}
}
