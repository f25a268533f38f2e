# Sourced by the QEMU system scripts: installs qemu-system-arm and cpio when missing and sets
# $kernel to Debian's ARMv7 multiplatform kernel image, which runs on -M virt (PL011 console,
# PSCI power-off) with no modules needed for an initramfs boot. The image is fetched with
# apt-get download and unpacked with dpkg-deb (the armhf architecture is added to dpkg for it),
# and cached under ${KASSA_CACHE:-~/.cache/kassa}/qemu-boot.
#
# A script that needs kernel modules (a virtual disk, a network card) sets qemu_modules to their
# names before sourcing, e.g. qemu_modules="virtio_mmio virtio_blk ext4". They and what they
# depend on (their modinfo "depends=", read from the .ko itself: no kmod needed) are taken from
# the same kernel package, unless built in, and kept beside the kernel; $modules is then that
# directory, holding the .ko files and "order", one file name a line, each after what it needs.
# Soft dependencies (ext4's crc32c) are not followed: name them.
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
qemu_modules=${qemu_modules:-}

# qemu_modules_kept KVER: whether every module asked for is kept for kernel KVER.
qemu_modules_kept() {
	local m
	for m in $qemu_modules; do
		grep -qx "$m" "$cache/modules-$1/names" 2>/dev/null || return 1
	done
}

# qemu_keep_modules TREE KVER: copies the modules asked for, and what they depend on, from the
# unpacked package TREE into $cache/modules-KVER.
qemu_keep_modules() {
	local tree=$1/lib/modules/$2 out=$cache/modules-$2 seen=" " m
	rm -rf "$out" && mkdir -p "$out"
	: >"$out/order"
	: >"$out/names"
	add() { # depth first, so that a module comes after what it needs
		local name=$1 f dep deps
		case $seen in *" $name "*) return ;; esac
		seen="$seen$name "
		if grep -q "/${name//_/[_-]}\.ko$" "$tree/modules.builtin"; then
			echo "$name" >>"$out/names"
			return
		fi
		f=$(find "$tree/kernel" -name "$name.ko" -o -name "${name//_/-}.ko" | head -1)
		[ -n "$f" ] || { echo "qemu: module $name is not in the kernel package" >&2; return 1; }
		deps=$(grep -a -o 'depends=[^[:cntrl:]]*' "$f" | head -1 | cut -d= -f2)
		for dep in ${deps//,/ }; do
			add "$dep" || return 1
		done
		cp "$f" "$out/"
		basename "$f" >>"$out/order"
		echo "$name" >>"$out/names"
	}
	for m in $qemu_modules; do
		add "$m" || return 1
	done
}

kernel=$(find "$cache" -maxdepth 1 -name 'vmlinuz-*-armmp' | head -1)
kver=${kernel##*/vmlinuz-}
if [ -z "$kernel" ] || { [ -n "$qemu_modules" ] && ! qemu_modules_kept "$kver"; }; then
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
	# The kernel image is kept, and the modules asked for; kernel and modules always come
	# from one package, so a newer package replaces both.
	rm -rf "$cache/deb" && mkdir "$cache/deb"
	(cd "$cache/deb" && apt-get download -qq -o APT::Sandbox::User="$(id -un)" "$pkg" && dpkg-deb -x ./*.deb x)
	new=$(find "$cache/deb/x/boot" -maxdepth 1 -name 'vmlinuz-*-armmp' | head -1)
	[ -n "$new" ] || { echo "qemu: no vmlinuz in $pkg" >&2; exit 1; }
	kver=${new##*/vmlinuz-}
	if [ -n "$qemu_modules" ]; then
		qemu_keep_modules "$cache/deb/x" "$kver" || exit 1
	fi
	find "$cache" -maxdepth 1 -name 'vmlinuz-*-armmp' ! -name "vmlinuz-$kver" -delete
	mv "$new" "$cache/"
	rm -rf "$cache/deb"
	kernel=$cache/vmlinuz-$kver
fi
modules=
[ -z "$qemu_modules" ] || modules=$cache/modules-$kver
echo "qemu: kernel $(basename "$kernel")${modules:+, modules $(tr '\n' ' ' <"$modules/order")}"
