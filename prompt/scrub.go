// Package prompt assembles what a model is asked, in one place: the consultant's
// scrubbed system prompt, the platform's security footer, the published material fenced
// as untrusted reference, and as much of the conversation as fits. Its Guard keeps a
// reply from reproducing the system prompt.
package prompt

import "regexp"

// Redacted replaces a secret scrubbed from a system prompt.
const Redacted = "[REDACTED]"

// secretPatterns are the secrets Scrub removes from consultants' system prompts before
// a model sees them. The list, in order:
//   - PEM private keys (RSA, EC, OpenSSH, PKCS#8, encrypted)
//   - passwords in URLs (scheme://user:password@host keeps the user)
//   - bearer tokens in an Authorization header or "Bearer <token>"
//   - provider API keys: Anthropic (sk-ant-), OpenAI (sk-, sk-proj-), Stripe secret and
//     restricted keys (sk_live_, sk_test_, rk_live_, rk_test_), Stripe and Standard
//     Webhooks signing secrets (whsec_), AWS access key IDs (AKIA, ASIA), Google API keys
//     (AIza), GitHub tokens (ghp_, gho_, ghu_, ghs_, ghr_, github_pat_), Slack tokens
//     (xoxa-, xoxb-, xoxp-, xoxr-, xoxs-), Resend keys (re_), Lobby's own credentials
//     (cl_user_, cl_buyer_, cl_consultant_)
//   - JSON Web Tokens (three base64url parts, the first two starting eyJ)
//   - "password", "passwd", "secret", "api_key", "token" followed by = or : and a value
var secretPatterns = []struct {
	re   *regexp.Regexp
	repl string
}{
	{regexp.MustCompile(`(?s)-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*?(-----END [A-Z0-9 ]*PRIVATE KEY-----|$)`), Redacted},
	{regexp.MustCompile(`\b([a-zA-Z][a-zA-Z0-9+.-]*://[^\s:/@]+):[^\s@/]+@`), "${1}:" + Redacted + "@"},
	{regexp.MustCompile(`(?i)\b(bearer)\s+[A-Za-z0-9._~+/=-]{8,}`), "${1} " + Redacted},
	{regexp.MustCompile(`\bsk-ant-[A-Za-z0-9_-]{16,}`), Redacted},
	{regexp.MustCompile(`\bsk-(proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}`), Redacted},
	{regexp.MustCompile(`\b[sr]k_(live|test)_[A-Za-z0-9]{10,}`), Redacted},
	{regexp.MustCompile(`\bwhsec_[A-Za-z0-9+/=]{16,}`), Redacted},
	{regexp.MustCompile(`\b(AKIA|ASIA)[0-9A-Z]{16}\b`), Redacted},
	{regexp.MustCompile(`\bAIza[0-9A-Za-z_-]{35}`), Redacted},
	{regexp.MustCompile(`\b(gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,})`), Redacted},
	{regexp.MustCompile(`\bxox[abprs]-[A-Za-z0-9-]{10,}`), Redacted},
	{regexp.MustCompile(`\bre_[A-Za-z0-9_]{20,}`), Redacted},
	{regexp.MustCompile(`\bcl_(user|buyer|consultant)_[A-Za-z0-9_-]{16,}`), Redacted},
	{regexp.MustCompile(`\beyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}`), Redacted},
	{regexp.MustCompile(`(?i)\b(password|passwd|pwd|secret|api[_-]?key|access[_-]?token|auth[_-]?token)(\s*[:=]\s*)("[^"]+"|'[^']+'|\S+)`), "${1}${2}" + Redacted},
}

// Scrub returns the system prompt with every secret in the list above replaced by
// [REDACTED], so a model can neither use nor repeat it.
func Scrub(systemPrompt string) string {
	for _, p := range secretPatterns {
		systemPrompt = p.re.ReplaceAllString(systemPrompt, p.repl)
	}
	return systemPrompt
}
