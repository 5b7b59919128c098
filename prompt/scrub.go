// Package prompt assembles what a model is asked, in one place: the consultant's
// scrubbed system prompt, the platform's security footer, the published material fenced
// as untrusted reference, and as much of the conversation as fits. Its Guard keeps a
// reply from reproducing the system prompt.
package prompt

import (
	"regexp"
	"strings"
)

// Redacted replaces a secret scrubbed from a system prompt.
const Redacted = "[REDACTED]"

// secretPatterns are the secrets Scrub removes from consultants' system prompts before
// a model sees them, after gitleaks' rules (config/gitleaks.toml) for the formats we
// are likely to meet. The list, in order:
//   - private key blocks: PEM of every kind (RSA, DSA, EC, OpenSSH, PKCS#8, encrypted),
//     PGP private key blocks, PuTTY key files; also inside a JSON string ("\n" escaped)
//   - passwords in URLs and connection strings: scheme://user:password@host keeps the
//     user (postgres, mysql, mongodb+srv, redis, amqp, https, ...)
//   - Slack webhook URLs (hooks.slack.com/services/...)
//   - credentials in an Authorization header (Basic, Bearer, Digest, Token), and any
//     "Bearer <token>"
//   - provider keys: Anthropic (sk-ant-), OpenAI (sk-, sk-proj-, sk-svcacct-, sk-admin-),
//     Stripe secret, restricted and publishable keys in either case (sk_, rk_, pk_ with
//     live_, test_ or prod_), Stripe and Standard Webhooks signing secrets (whsec_),
//     AWS access key IDs (AKIA, ASIA, ABIA, ACCA, A3T), Google API keys (AIza), GitHub
//     tokens (ghp_, gho_, ghu_, ghs_, ghr_, github_pat_), GitLab tokens (glpat-, gldt-,
//     glrt-, ...), Slack tokens (xoxa-, xoxb-, xoxe-, xoxo-, xoxp-, xoxr-, xoxs-, xapp-),
//     SendGrid (SG.), Twilio API keys (SK + 32 hex), Hugging Face (hf_, api_org_),
//     npm (npm_), PyPI (pypi-AgEIcHlwaS5vcmc), DigitalOcean (dop_v1_, doo_v1_, dor_v1_),
//     Shopify (shpat_, shpca_, shppa_, shpss_), Databricks (dapi), Heroku (HRKU-AA),
//     Mailgun (key-), Telegram bot tokens, age secret keys (AGE-SECRET-KEY-1), Resend
//     (re_), Lobby's own credentials (cl_user_, cl_buyer_, cl_consultant_)
//   - JSON Web Tokens (base64url parts, the first two starting eyJ)
//   - assignments, in any case, of a name containing password, passwd, passphrase, pwd,
//     secret, token, api key, access key, private key or account key (api_key:,
//     client_secret=, aws_secret_access_key =, GITHUB_TOKEN=, "password": "...",
//     Password=...; in a connection string, X-Api-Key:, AccountKey=): the value goes,
//     the name stays. A name must be the word or joined to it by _ . or -, so "Max
//     tokens: 500" and "the secret of" stay.
//   - "password is X" in prose, when X has a digit or a symbol (so "the password is
//     required" stays)
//   - email addresses (not the user of a URL)
//
// Secrets of no recognisable shape (a bare random string with no name before it) are
// not found; that is what the footer's rules and the output guard are for.
var secretPatterns = []struct {
	re   *regexp.Regexp
	repl string
	// line: a match never spans lines. hints: a match holds one of these, in lower
	// case. They let Scrub skip what cannot match: Go's regexp cannot scan ahead for a
	// pattern that starts with \b, and tries it at every byte.
	line  bool
	hints []string
}{
	{regexp.MustCompile(`(?is)-----BEGIN[ A-Z0-9_-]{0,100}PRIVATE KEY(?: BLOCK)?-----.*?(?:-----END[ A-Z0-9_-]{0,100}PRIVATE KEY(?: BLOCK)?-----|$)`), Redacted, false, []string{"private key"}},
	{regexp.MustCompile(`(?s)PuTTY-User-Key-File-\d+:.*?(?:Private-MAC:[ \t]*\S+|$)`), Redacted, false, []string{"putty-user-key-file"}},
	{regexp.MustCompile(`\b([a-zA-Z][a-zA-Z0-9+.-]*://[^\s:/@]+):[^\s/]+@`), "${1}:" + Redacted + "@", true, []string{"://"}},
	{regexp.MustCompile(`(?:https?://)?hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9+/]{20,}`), Redacted, true, []string{"hooks.slack.com"}},
	{regexp.MustCompile(`(?i)\b(authorization["']?\s*[:=]\s*["']?(?:basic|bearer|digest|token)\s+)[A-Za-z0-9._~+/=-]+`), "${1}" + Redacted, true, []string{"authorization"}},
	{regexp.MustCompile(`(?i)\b(bearer)\s+[A-Za-z0-9._~+/=-]{8,}`), "${1} " + Redacted, true, []string{"bearer"}},
	{regexp.MustCompile(`\bsk-ant-[A-Za-z0-9_-]{16,}`), Redacted, true, []string{"sk-ant-"}},
	{regexp.MustCompile(`\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}`), Redacted, true, []string{"sk-"}},
	{regexp.MustCompile(`(?i)\b[srp]k_(?:live|test|prod)_[a-z0-9]{10,}`), Redacted, true, []string{"k_live_", "k_test_", "k_prod_"}},
	{regexp.MustCompile(`\bwhsec_[A-Za-z0-9+/=]{16,}`), Redacted, true, []string{"whsec_"}},
	{regexp.MustCompile(`\b(?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}\b`), Redacted, true, []string{"akia", "asia", "abia", "acca", "a3t"}},
	{regexp.MustCompile(`\bAIza[0-9A-Za-z_-]{35}`), Redacted, true, []string{"aiza"}},
	{regexp.MustCompile(`\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,})`), Redacted, true, []string{"ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"}},
	{regexp.MustCompile(`\bgl(?:pat|dt|rt|ptt|ft|soat|cbt|agent|oas|imt|ffct)-[A-Za-z0-9_.-]{20,}`), Redacted, true, []string{"gl"}},
	{regexp.MustCompile(`\bxox[abeoprs]-[A-Za-z0-9-]{10,}|\bxapp-\d-[A-Za-z0-9-]{10,}`), Redacted, true, []string{"xox", "xapp-"}},
	{regexp.MustCompile(`\bSG\.[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{16,}`), Redacted, true, []string{"sg."}},
	{regexp.MustCompile(`\bSK[0-9a-fA-F]{32}\b`), Redacted, true, []string{"sk"}},
	{regexp.MustCompile(`\b(?:hf|api_org)_[A-Za-z]{30,}`), Redacted, true, []string{"hf_", "api_org_"}},
	{regexp.MustCompile(`\bnpm_[A-Za-z0-9]{36}`), Redacted, true, []string{"npm_"}},
	{regexp.MustCompile(`\bpypi-AgEIcHlwaS5vcmc[A-Za-z0-9_-]{8,}`), Redacted, true, []string{"pypi-"}},
	{regexp.MustCompile(`\bdo[opr]_v1_[a-f0-9]{64}`), Redacted, true, []string{"_v1_"}},
	{regexp.MustCompile(`\bshp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}`), Redacted, true, []string{"shp"}},
	{regexp.MustCompile(`\bdapi[a-f0-9]{32}\b`), Redacted, true, []string{"dapi"}},
	{regexp.MustCompile(`\bHRKU-AA[0-9a-zA-Z_-]{58}`), Redacted, true, []string{"hrku-"}},
	{regexp.MustCompile(`\bkey-[a-f0-9]{32}\b`), Redacted, true, []string{"key-"}},
	{regexp.MustCompile(`\b\d{8,10}:AA[A-Za-z0-9_-]{33}\b`), Redacted, true, []string{":aa"}},
	{regexp.MustCompile(`\bAGE-SECRET-KEY-1[0-9A-Z]{50,}`), Redacted, true, []string{"age-secret-key-"}},
	{regexp.MustCompile(`\bre_[A-Za-z0-9_]{20,}`), Redacted, true, []string{"re_"}},
	{regexp.MustCompile(`\bcl_(?:user|buyer|consultant)_[A-Za-z0-9_-]{16,}`), Redacted, true, []string{"cl_"}},
	{regexp.MustCompile(`\beyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*`), Redacted, true, []string{"eyj"}},
	{regexp.MustCompile(`(?i)\b((?:[a-z0-9]+[_.-])*(?:password|passwd|passphrase|pwd|secret|token|api[_-]?key|apikey|access[_-]?key|private[_-]?key|account[_-]?key)(?:[_.-][a-z0-9]+)*["']?\s*[:=]\s*)("[^"]*"|'[^']*'|[^\s;"']+)`), "${1}" + Redacted, true, []string{"pass", "pwd", "secret", "token", "key"}},
	{regexp.MustCompile(`(?i)\b((?:password|passphrase|pwd)\s+(?:is|was)\s*:?\s+)("[^"]+"|'[^']+'|[^\s"']*[0-9!@#$%^&*()_+=~<>?\\|{}\[\]][^\s"']*)`), "${1}" + Redacted, true, []string{"pass", "pwd"}},
	{regexp.MustCompile(`(^|[^\w.%+/:-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}`), "${1}" + Redacted, true, []string{"@"}},
}

// Scrub returns the system prompt with every secret in the list above replaced by
// [REDACTED], so a model can neither use nor repeat it.
func Scrub(systemPrompt string) string {
	lower := strings.ToLower(systemPrompt) // replacing only removes hints
	for _, p := range secretPatterns {
		if !hinted(lower, p.hints) {
			continue
		}
		if !p.line {
			systemPrompt = p.re.ReplaceAllString(systemPrompt, p.repl)
			continue
		}
		var b strings.Builder
		changed := false
		for rest := systemPrompt; ; {
			line, next, found := strings.Cut(rest, "\n")
			if hinted(strings.ToLower(line), p.hints) {
				if repl := p.re.ReplaceAllString(line, p.repl); repl != line {
					line, changed = repl, true
				}
			}
			b.WriteString(line)
			if !found {
				break
			}
			b.WriteByte('\n')
			rest = next
		}
		if changed {
			systemPrompt = b.String()
		}
	}
	return systemPrompt
}

func hinted(s string, hints []string) bool {
	for _, h := range hints {
		if strings.Contains(s, h) {
			return true
		}
	}
	return false
}
