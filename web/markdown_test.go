package web

import (
	"strings"
	"testing"
)

func TestRenderMarkdownIsSafe(t *testing.T) {
	for _, tc := range []struct {
		in          string
		want, never []string
	}{
		{"**bold** and `code`", []string{"<strong>bold</strong>", "<code>code</code>"}, nil},
		{"<script>alert(1)</script>", []string{"&lt;script&gt;alert(1)&lt;/script&gt;"}, []string{"<script"}},
		{"a <b onclick=x>tag</b> inline", []string{"&lt;b onclick=x&gt;"}, []string{"<b "}},
		{"[click](javascript:alert(1))", []string{"click"}, []string{"<a", "javascript:"}},
		{"[data](data:text/html,hi)", []string{"data"}, []string{"<a"}},
		{"[site](https://example.com/a?b=1)", []string{`<a href="https://example.com/a?b=1" rel="noopener nofollow">site</a>`}, nil},
		{"see https://example.com/x now", []string{`href="https://example.com/x"`, `rel="noopener nofollow"`}, nil},
		{"![a cat](https://example.com/cat.png)", []string{`<a href="https://example.com/cat.png" rel="noopener nofollow">a cat</a>`}, []string{"<img"}},
		{"![](javascript:alert(1))", []string{"image"}, []string{"<img", "<a", "javascript"}},
		{"| a | b |\n|---|---|\n| 1 | 2 |", []string{"<table>", "<td>1</td>"}, nil},
	} {
		got := string(renderMarkdown(tc.in))
		for _, w := range tc.want {
			if !strings.Contains(got, w) {
				t.Errorf("%q renders %q, lacking %q", tc.in, got, w)
			}
		}
		for _, n := range tc.never {
			if strings.Contains(got, n) {
				t.Errorf("%q renders %q, with %q", tc.in, got, n)
			}
		}
	}
}
