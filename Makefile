# Everything builds and tests with plain go commands (see the README); this file only
# names the longer ones.

# screenshots saves each page the browser tests visit, on a desktop and a 375 px phone,
# to docs/screenshots. It needs Chromium (apt-get install -y chromium).
.PHONY: screenshots
screenshots:
	mkdir -p docs/screenshots
	LOBBY_TEST_SCREENSHOTS=$(CURDIR)/docs/screenshots go test ./web -run 'InBrowser/sqlite|NewUserByClicking' -count=1
