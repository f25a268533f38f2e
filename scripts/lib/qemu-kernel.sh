# Sourced by the QEMU system scripts: installs qemu-system-arm and cpio when missing and sets
# $kernel to Debian's ARMv7 multiplatform kernel image, which runs on -M virt (PL011 console,
# PSCI power-off) with no modules needed for an initramfs boot. The image is fetched with
# apt-get download and unpacked with dpkg-deb (the armhf architecture is added to dpkg for it),
# and cached under ${KASSA_CACHE:-~/.cache/kassa}/qemu-boot.
sudo=; [ "$(id -u)" -eq 0 ] || sudo=sudo
export DEBIAN_FRONTEND=noninteractive

need=()
command -v qemu-system-arm >/dev/null || need+=(qemu-system-arm)
command -v cpio >/dev/null || need+=(cpio)
if [ ${#need[@]} -gt 0 ]; then
	echo "qemu: installing ${need[*]}"
	$sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null ||
		{ $sudo apt-get update -qq || true; $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null; }
fi

cache=${KASSA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kassa}/qemu-boot
mkdir -p "$cache"
kernel=$(find "$cache" -maxdepth 1 -name 'vmlinuz-*-armmp' | head -1)
if [ -z "$kernel" ]; then
	if ! dpkg --print-foreign-architectures | grep -qx armhf; then
		echo "qemu: adding the armhf architecture to dpkg, for the kernel package"
		$sudo dpkg --add-architecture armhf
		$sudo apt-get update -qq || true # a mirror's partial index must not stop us; the look-up below decides
	fi
	pkg=$(apt-cache depends linux-image-armmp:armhf 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
	if [ -z "$pkg" ]; then
		$sudo apt-get update -qq || true
		pkg=$(apt-cache depends linux-image-armmp:armhf | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
	fi
	[ -n "$pkg" ] || { echo "qemu: no linux-image-*-armmp package for armhf in apt's lists" >&2; exit 1; }
	echo "qemu: fetching $pkg"
	# As root apt would fetch as _apt, which cannot write to the cache: fetch as ourselves.
	# Only the kernel image is kept; the modules are not needed for an initramfs boot.
	rm -rf "$cache/deb" && mkdir "$cache/deb"
	(cd "$cache/deb" && apt-get download -qq -o APT::Sandbox::User="$(id -un)" "$pkg" &&
		dpkg-deb -x ./*.deb x && mv x/boot/vmlinuz-*-armmp "$cache/")
	rm -rf "$cache/deb"
	kernel=$(find "$cache" -maxdepth 1 -name 'vmlinuz-*-armmp' | head -1)
fi
echo "qemu: kernel $(basename "$kernel")"
