package inspector

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestCVSSScore(t *testing.T) {
	tests := []struct {
		vector cvssVector
		want   int16
	}{
		{cvssVector{av: 0, ac: 0, pr: 0, ui: 0, s: 0, c: 0, i: 0, a: 0}, 98},  // AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H
		{cvssVector{av: 0, ac: 0, pr: 0, ui: 0, s: 1, c: 0, i: 0, a: 0}, 100}, // ... S:C
		{cvssVector{av: 2, ac: 0, pr: 1, ui: 0, s: 0, c: 0, i: 0, a: 0}, 78},  // AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H
		{cvssVector{av: 0, ac: 0, pr: 0, ui: 0, s: 0, c: 2, i: 2, a: 0}, 75},  // AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H
		{cvssVector{av: 0, ac: 0, pr: 0, ui: 0, s: 0, c: 2, i: 2, a: 2}, 0},
		{cvssVector{av: 2, ac: 1, pr: 2, ui: 1, s: 0, c: 0, i: 0, a: 2}, 56}, // AV:L/AC:H/PR:H/UI:R/S:U/C:H/I:H/A:N
	}
	for _, tt := range tests {
		if got := tt.vector.score(); got != tt.want {
			t.Errorf("%s: score %d, want %d", tt.vector, got, tt.want)
		}
	}
}

func TestAppendEpoch(t *testing.T) {
	tests := []struct {
		ms   int64
		want string
	}{
		{1718035795235, "1718035795.235"},
		{1718035795230, "1718035795.23"},
		{1718035795200, "1718035795.2"},
		{1718035795000, "1718035795"},
		{1718035795005, "1718035795.005"},
	}
	for _, tt := range tests {
		if got := string(appendEpoch(nil, tt.ms)); got != tt.want {
			t.Errorf("appendEpoch(%d) = %s, want %s", tt.ms, got, tt.want)
		}
	}
}

func TestTokens(t *testing.T) {
	tok := encodeToken(12345, 0xdeadbeef)
	cursor, hash, ok := decodeToken(tok)
	if !ok || cursor != 12345 || hash != 0xdeadbeef {
		t.Fatalf("round trip: %d %x %v", cursor, hash, ok)
	}
	for _, bad := range []string{"", "x", "AAAA", tok[:len(tok)-2]} {
		if _, _, ok := decodeToken(bad); ok {
			t.Errorf("decodeToken(%q) accepted", bad)
		}
	}
}

func TestSessionExpiry(t *testing.T) {
	s, err := New(Config{Findings: 1, RoleARN: "arn:aws:iam::111122223333:role/R"})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	s.clock = func() time.Time { return now }
	rec := httptest.NewRecorder()
	s.assumeRole(rec, "req", &s.base, url.Values{"RoleArn": {"arn:aws:iam::111122223333:role/R"}, "RoleSessionName": {"sync"}, "DurationSeconds": {"900"}})
	if rec.Code != http.StatusOK {
		t.Fatalf("AssumeRole: %d %s", rec.Code, rec.Body)
	}
	var sess *principal
	for _, p := range s.sessions {
		sess = p
	}
	if sess == nil || !sess.expires.Equal(now.UTC().Add(900*time.Second).Truncate(time.Second)) {
		t.Fatalf("session %+v", sess)
	}
	if !strings.Contains(rec.Body.String(), "<Expiration>"+sess.expires.Format(time.RFC3339)+"</Expiration>") {
		t.Errorf("response lacks the expiration:\n%s", rec.Body)
	}

	req := httptest.NewRequest(http.MethodPost, "/findings/list", nil)
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+sess.accessKeyID+"/20261101/us-east-1/inspector2/aws4_request, SignedHeaders=host;x-amz-date, Signature=00")
	req.Header.Set("X-Amz-Date", "20261101T000000Z")
	req.Header.Set("X-Amz-Security-Token", sess.token)
	s.clock = func() time.Time { return now.Add(901 * time.Second) }
	if _, _, aerr := s.authenticate(req, nil, "inspector2"); aerr != errExpiredToken {
		t.Errorf("expired session: %+v, want ExpiredTokenException", aerr)
	}
}
