package webhook_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/lobby-dev/lobby/webhook"
)

// The spec's test vector, as in the standard-webhooks libraries' own tests.
const (
	vectorSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	vectorID     = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	vectorTS     = 1614265330
	vectorBody   = `{"test": 2432232314}`
	vectorSig    = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

var (
	oldSecret = vectorSecret
	newSecret = secretOf(32, 7)
)

// secretOf returns a secret whose key is n bytes of b.
func secretOf(n int, b byte) string {
	return "whsec_" + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{b}, n))
}

// signedHeader returns the headers of a delivery signed with secret.
func signedHeader(t *testing.T, secret, id string, ts time.Time, body []byte) http.Header {
	t.Helper()
	sig, err := webhook.Sign(secret, id, ts, body)
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	return header(id, strconv.FormatInt(ts.Unix(), 10), sig)
}

func header(id, ts, sig string) http.Header {
	h := http.Header{}
	h.Set(webhook.HeaderID, id)
	h.Set(webhook.HeaderTimestamp, ts)
	h.Set(webhook.HeaderSignature, sig)
	return h
}

func newVerifier(t *testing.T, secrets ...string) *webhook.Verifier {
	t.Helper()
	v, err := webhook.NewVerifier(secrets...)
	if err != nil {
		t.Fatalf("NewVerifier: %v", err)
	}
	return v
}

// checkErr fails t unless err is want (nil for success) and its message holds msg.
func checkErr(t *testing.T, err, want error, msg string) {
	t.Helper()
	switch {
	case want == nil && err != nil:
		t.Fatalf("err = %v, want nil", err)
	case want != nil && !errors.Is(err, want):
		t.Fatalf("err = %v, want %v", err, want)
	case err != nil && !strings.Contains(err.Error(), msg):
		t.Fatalf("err = %q, want it to mention %q", err, msg)
	}
}

func TestVerifyAt(t *testing.T) {
	t.Parallel()
	now := time.Unix(vectorTS, 0)
	body := []byte(`{"type":"message.created"}`)
	good := func(t *testing.T) http.Header { return signedHeader(t, oldSecret, "evt_1", now, body) }
	goodSig := func(t *testing.T) string { return good(t).Get(webhook.HeaderSignature) }
	at := func(d time.Duration) func(*testing.T) http.Header {
		return func(t *testing.T) http.Header { return signedHeader(t, oldSecret, "evt_1", now.Add(d), body) }
	}
	without := func(name string) func(*testing.T) http.Header {
		return func(t *testing.T) http.Header { h := good(t); h.Del(name); return h }
	}
	withSig := func(sig func(t *testing.T) string) func(*testing.T) http.Header {
		return func(t *testing.T) http.Header { h := good(t); h.Set(webhook.HeaderSignature, sig(t)); return h }
	}
	withTS := func(ts string) func(*testing.T) http.Header {
		return func(t *testing.T) http.Header { h := good(t); h.Set(webhook.HeaderTimestamp, ts); return h }
	}

	tests := []struct {
		name    string
		secrets []string // the verifier's; oldSecret when nil
		header  func(*testing.T) http.Header
		body    string // body when ""
		want    error
		msg     string
	}{
		{name: "OK", header: good},
		{name: "OKPastEdge", header: at(-webhook.DefaultTolerance)},
		{name: "OKFutureEdge", header: at(webhook.DefaultTolerance)},
		{name: "OKSecondOfSeveral", header: withSig(func(t *testing.T) string {
			return "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= " + goodSig(t)
		})},
		{name: "OKUnknownVersionIgnored", header: withSig(func(t *testing.T) string {
			return "v2,whatever v1a,x " + goodSig(t)
		})},
		{name: "OKRotationOldSecret", secrets: []string{oldSecret, newSecret}, header: good},
		{name: "OKRotationNewSecret", secrets: []string{oldSecret, newSecret}, header: func(t *testing.T) http.Header {
			return signedHeader(t, newSecret, "evt_1", now, body)
		}},
		{name: "OKSignAllNewSecretOnly", secrets: []string{newSecret}, header: withSig(func(t *testing.T) string {
			sig, err := webhook.SignAll([]string{oldSecret, newSecret}, "evt_1", now, body)
			if err != nil {
				t.Fatal(err)
			}
			return sig
		})},
		{name: "ErrTimestampTooOld", header: at(-webhook.DefaultTolerance - time.Second),
			want: webhook.ErrTimestampTooOld, msg: "5m1s before now"},
		{name: "ErrTimestampTooNew", header: at(webhook.DefaultTolerance + time.Second),
			want: webhook.ErrTimestampTooNew, msg: "5m1s after now"},
		{name: "ErrNoMatchingSignatureTamperedBody", header: good, body: `{"type":"message.created "}`,
			want: webhook.ErrNoMatchingSignature, msg: "1 v1 signature(s) checked against 1 secret(s)"},
		{name: "ErrNoMatchingSignatureWrongSecret", secrets: []string{newSecret}, header: good,
			want: webhook.ErrNoMatchingSignature, msg: "check the secret"},
		{name: "ErrNoMatchingSignatureTamperedID", header: func(t *testing.T) http.Header {
			h := good(t)
			h.Set(webhook.HeaderID, "evt_2")
			return h
		}, want: webhook.ErrNoMatchingSignature},
		{name: "ErrNoMatchingSignatureOnlyV2", header: withSig(func(t *testing.T) string {
			return "v2," + strings.TrimPrefix(goodSig(t), "v1,")
		}), want: webhook.ErrNoMatchingSignature, msg: "no v1 entry"},
		{name: "ErrNoMatchingSignatureEmptyV1", header: withSig(func(*testing.T) string { return "v1," }),
			want: webhook.ErrNoMatchingSignature},
		{name: "ErrNoMatchingSignatureNoComma", header: withSig(func(t *testing.T) string {
			return strings.Replace(goodSig(t), ",", "", 1)
		}), want: webhook.ErrNoMatchingSignature},
		{name: "ErrMissingHeadersID", header: without(webhook.HeaderID),
			want: webhook.ErrMissingHeaders, msg: "webhook-id absent"},
		{name: "ErrMissingHeadersTimestamp", header: without(webhook.HeaderTimestamp),
			want: webhook.ErrMissingHeaders, msg: "webhook-timestamp absent"},
		{name: "ErrMissingHeadersSignature", header: without(webhook.HeaderSignature),
			want: webhook.ErrMissingHeaders, msg: "webhook-signature absent"},
		{name: "ErrMissingHeadersBlankSignature", header: withSig(func(*testing.T) string { return "  " }),
			want: webhook.ErrMissingHeaders},
		{name: "ErrMissingHeadersAll", header: func(*testing.T) http.Header { return http.Header{} },
			want: webhook.ErrMissingHeaders, msg: "webhook-id, webhook-timestamp, webhook-signature absent"},
		{name: "ErrInvalidTimestampWord", header: withTS("yesterday"),
			want: webhook.ErrInvalidTimestamp, msg: `got "yesterday"`},
		{name: "ErrInvalidTimestampFraction", header: withTS(strconv.Itoa(vectorTS) + ".5"),
			want: webhook.ErrInvalidTimestamp},
		{name: "ErrTimestampTooNewMillis", header: withTS(strconv.FormatInt(now.UnixMilli(), 10)),
			want: webhook.ErrTimestampTooNew},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			secrets := tt.secrets
			if secrets == nil {
				secrets = []string{oldSecret}
			}
			b := body
			if tt.body != "" {
				b = []byte(tt.body)
			}
			err := newVerifier(t, secrets...).VerifyAt(tt.header(t), b, now)
			checkErr(t, err, tt.want, tt.msg)
		})
	}
}

func TestVerifierTolerance(t *testing.T) {
	t.Parallel()
	now := time.Unix(vectorTS, 0)
	body := []byte("{}")
	v := newVerifier(t, oldSecret)
	v.Tolerance = time.Minute
	v.Now = func() time.Time { return now }

	checkErr(t, v.Verify(signedHeader(t, oldSecret, "evt_1", now.Add(-time.Minute), body), body), nil, "")
	err := v.Verify(signedHeader(t, oldSecret, "evt_1", now.Add(-2*time.Minute), body), body)
	checkErr(t, err, webhook.ErrTimestampTooOld, "the limit is 1m0s")
}

func TestVerifyRequest(t *testing.T) {
	t.Parallel()
	body := []byte(`{"type":"message.created"}`)
	request := func(t *testing.T, body []byte) *http.Request {
		r := httptest.NewRequest("POST", "/", bytes.NewReader(body))
		r.Header = signedHeader(t, oldSecret, "evt_1", time.Now(), body)
		return r
	}

	t.Run("OK", func(t *testing.T) {
		t.Parallel()
		got, err := newVerifier(t, oldSecret).VerifyRequest(request(t, body), int64(len(body)))
		checkErr(t, err, nil, "")
		if !bytes.Equal(got, body) {
			t.Errorf("body = %q, want %q", got, body)
		}
	})
	t.Run("ErrBodyTooLarge", func(t *testing.T) {
		t.Parallel()
		_, err := newVerifier(t, oldSecret).VerifyRequest(request(t, body), int64(len(body))-1)
		checkErr(t, err, webhook.ErrBodyTooLarge, "more than 25 bytes")
	})
	t.Run("ErrNoMatchingSignature", func(t *testing.T) {
		t.Parallel()
		r := request(t, body)
		r.Body = http.NoBody
		_, err := newVerifier(t, oldSecret).VerifyRequest(r, 0)
		checkErr(t, err, webhook.ErrNoMatchingSignature, "")
	})
	t.Run("ErrMissingHeadersBodyUnread", func(t *testing.T) {
		t.Parallel()
		r := request(t, body)
		r.Header.Del(webhook.HeaderSignature)
		rd := bytes.NewReader(body)
		r.Body = readCloser{rd}
		_, err := newVerifier(t, oldSecret).VerifyRequest(r, 0)
		checkErr(t, err, webhook.ErrMissingHeaders, "")
		if rd.Len() != len(body) {
			t.Errorf("%d body bytes read before the headers were checked", len(body)-rd.Len())
		}
	})
}

type readCloser struct{ *bytes.Reader }

func (readCloser) Close() error { return nil }

func TestSecrets(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		secret string
		want   error
		msg    string
	}{
		{"OKMin", secretOf(24, 1), nil, ""},
		{"OKMax", secretOf(64, 1), nil, ""},
		{"OKSurroundingSpace", " " + secretOf(32, 1) + "\n", nil, ""},
		{"ErrInvalidSecretEmpty", "", webhook.ErrInvalidSecret, "does not start with whsec_"},
		{"ErrInvalidSecretNoPrefix", strings.TrimPrefix(secretOf(32, 1), "whsec_"), webhook.ErrInvalidSecret, "does not start with whsec_"},
		{"ErrInvalidSecretBadBase64", "whsec_not*base64!", webhook.ErrInvalidSecret, "not standard base64"},
		{"ErrInvalidSecretURLBase64", "whsec_" + base64.URLEncoding.EncodeToString(bytes.Repeat([]byte{0xfb}, 30)), webhook.ErrInvalidSecret, "not standard base64"},
		{"ErrInvalidSecretShort", secretOf(23, 1), webhook.ErrInvalidSecret, "decodes to 23 bytes"},
		{"ErrInvalidSecretLong", secretOf(65, 1), webhook.ErrInvalidSecret, "decodes to 65 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := webhook.NewVerifier(tt.secret)
			checkErr(t, err, tt.want, tt.msg)
			_, err = webhook.Sign(tt.secret, "evt_1", time.Now(), nil)
			checkErr(t, err, tt.want, tt.msg)
			if enc := strings.TrimPrefix(strings.TrimSpace(tt.secret), "whsec_"); err != nil && enc != "" && strings.Contains(err.Error(), enc) {
				t.Errorf("error %q leaks the secret", err)
			}
		})
	}

	t.Run("ErrInvalidSecretSecondOfTwo", func(t *testing.T) {
		t.Parallel()
		_, err := webhook.NewVerifier(oldSecret, "whsec_short")
		checkErr(t, err, webhook.ErrInvalidSecret, "secret 2: ")
		_, err = webhook.SignAll([]string{oldSecret, "whsec_short"}, "evt_1", time.Now(), nil)
		checkErr(t, err, webhook.ErrInvalidSecret, "secret 2: ")
	})
	t.Run("ErrInvalidSecretNone", func(t *testing.T) {
		t.Parallel()
		_, err := webhook.NewVerifier()
		checkErr(t, err, webhook.ErrInvalidSecret, "no secret given")
		_, err = webhook.SignAll(nil, "evt_1", time.Now(), nil)
		checkErr(t, err, webhook.ErrInvalidSecret, "no secret given")
	})
}

// TestStandardWebhooks checks the package against the spec's reference Go library.
func TestStandardWebhooks(t *testing.T) {
	t.Parallel()
	body := []byte(`{"type":"message.created","data":{"message":{"content":"héllo"}}}`)

	t.Run("OKVector", func(t *testing.T) {
		t.Parallel()
		ts := time.Unix(vectorTS, 0)
		got, err := webhook.Sign(vectorSecret, vectorID, ts, []byte(vectorBody))
		if err != nil || got != vectorSig {
			t.Fatalf("Sign = %q, %v; want %q", got, err, vectorSig)
		}
		theirs, err := standardwebhooks.NewWebhook(vectorSecret)
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := theirs.Sign(vectorID, ts, []byte(vectorBody)); got != vectorSig {
			t.Fatalf("their Sign = %q, want %q", got, vectorSig)
		}
		h := header(vectorID, strconv.Itoa(vectorTS), vectorSig)
		checkErr(t, newVerifier(t, vectorSecret).VerifyAt(h, []byte(vectorBody), ts), nil, "")
	})
	t.Run("OKOursVerifiedByTheirs", func(t *testing.T) {
		t.Parallel()
		for _, secret := range []string{oldSecret, newSecret, secretOf(64, 0xff)} {
			theirs, err := standardwebhooks.NewWebhook(secret)
			if err != nil {
				t.Fatal(err)
			}
			if err := theirs.Verify(body, signedHeader(t, secret, "evt_1", time.Now(), body)); err != nil {
				t.Errorf("their Verify: %v", err)
			}
		}
	})
	t.Run("OKSignAllVerifiedByTheirs", func(t *testing.T) {
		t.Parallel()
		now := time.Now()
		sig, err := webhook.SignAll([]string{oldSecret, newSecret}, "evt_1", now, body)
		if err != nil {
			t.Fatal(err)
		}
		theirs, _ := standardwebhooks.NewWebhook(newSecret)
		if err := theirs.Verify(body, header("evt_1", strconv.FormatInt(now.Unix(), 10), sig)); err != nil {
			t.Errorf("their Verify: %v", err)
		}
	})
	t.Run("OKTheirsVerifiedByOurs", func(t *testing.T) {
		t.Parallel()
		for _, secret := range []string{oldSecret, newSecret, secretOf(64, 0xff)} {
			theirs, _ := standardwebhooks.NewWebhook(secret)
			now := time.Now()
			sig, err := theirs.Sign("evt_1", now, body)
			if err != nil {
				t.Fatal(err)
			}
			h := header("evt_1", strconv.FormatInt(now.Unix(), 10), sig)
			checkErr(t, newVerifier(t, secret).Verify(h, body), nil, "")
		}
	})
	t.Run("ErrNoMatchingSignatureTheirsWrongSecret", func(t *testing.T) {
		t.Parallel()
		theirs, _ := standardwebhooks.NewWebhook(newSecret)
		now := time.Now()
		sig, _ := theirs.Sign("evt_1", now, body)
		h := header("evt_1", strconv.FormatInt(now.Unix(), 10), sig)
		checkErr(t, newVerifier(t, oldSecret).Verify(h, body), webhook.ErrNoMatchingSignature, "")
	})
}

// FuzzVerify checks that no header or body makes the verifier panic, and that a
// signature made by Sign always verifies.
func FuzzVerify(f *testing.F) {
	f.Add(vectorID, strconv.Itoa(vectorTS), vectorSig, []byte(vectorBody))
	f.Add("", "", "", []byte(nil))
	f.Add("evt_1", "-9223372036854775808", "v1, v1,,, ,v1", []byte("{}"))
	f.Add("evt_1", "9223372036854775807", "v2,abc v1,=== v1", []byte{0xff, 0})
	f.Add("a.b", "+1614265330", "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", []byte("x"))

	now := time.Unix(vectorTS, 0)
	v, err := webhook.NewVerifier(vectorSecret, newSecret)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, id, ts, sig string, body []byte) {
		_ = v.VerifyAt(header(id, ts, sig), body, now)

		if id == "" {
			return
		}
		good, err := webhook.Sign(newSecret, id, now, body)
		if err != nil {
			t.Fatal(err)
		}
		h := header(id, strconv.FormatInt(now.Unix(), 10), sig+" "+good)
		if err := v.VerifyAt(h, body, now); err != nil {
			t.Fatalf("a Sign signature after %q failed: %v", sig, err)
		}
	})
}
