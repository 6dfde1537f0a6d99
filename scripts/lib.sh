# Shared shell helpers for scripts/*; source it, don't run it.

# Prints what a script is doing, prefixed with its name.
log() { printf '[%s] %s\n' "${CSM_SCRIPT:-$(basename "$0")}" "$*" >&2; }

CSM_APT_UPDATED=0
# apt_install PKG...: installs the Debian packages among PKG that are missing.
apt_install() {
	local missing=() p
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
	done
	[ "${#missing[@]}" -gt 0 ] || return 0
	if [ "$(id -u)" != 0 ]; then
		log "missing Debian packages: ${missing[*]} (not root: install them first)"
		exit 1
	fi
	if [ "$CSM_APT_UPDATED" = 0 ]; then
		log "apt-get update"
		DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
		CSM_APT_UPDATED=1
	fi
	log "installing Debian packages: ${missing[*]}"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
}

# The packages that build and unit-test the exporter.
CSM_BUILD_PKGS=(gcc libc6-dev meson ninja-build pkg-config libcurl4-openssl-dev libcjson-dev
	libevent-dev libssl-dev libyaml-dev zlib1g-dev check)
