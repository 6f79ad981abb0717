//! Sizes as Docker's CLI prints them (github.com/docker/go-units): decimal units with three
//! significant digits for image and disk sizes and I/O counters (`1.98MB`, `1.04kB`, `0B`),
//! binary units with four for memory (`880KiB`, `23.54GiB`). Both go through Go's `%g`,
//! which drops trailing zeros: `2MB`, not `2.00MB`.

const DECIMAL: [&str; 9] = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];
const BINARY: [&str; 9] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"];

/// go-units' `HumanSizeWithPrecision(size, 3)`.
pub fn human_size(bytes: u64) -> String {
    scaled(bytes as f64, 1000.0, &DECIMAL, 3)
}

/// go-units' `HumanSize`: four significant digits (`1.984MB`), as `system df`, `volume
/// prune` and the prune reports print sizes.
pub fn human_size_4(bytes: u64) -> String {
    scaled(bytes as f64, 1000.0, &DECIMAL, 4)
}

/// go-units' `BytesSize`: `CustomSize("%.4g%s", size, 1024.0, binaryAbbrs)`.
pub fn bytes_size(bytes: u64) -> String {
    scaled(bytes as f64, 1024.0, &BINARY, 4)
}

/// go-units' getSizeAndUnit: divide by `base` while the size is at least `base`.
fn scaled(mut size: f64, base: f64, units: &[&str], precision: usize) -> String {
    let mut i = 0;
    while size >= base && i + 1 < units.len() {
        size /= base;
        i += 1;
    }
    format!("{}{}", go_g(size, precision), units[i])
}

/// Go's `%.{precision}g`: `precision` significant digits, trailing zeros dropped, and the
/// exponent form when the exponent is below -4 or at least the precision (`1e+03`).
pub fn go_g(v: f64, precision: usize) -> String {
    if v == 0.0 || !v.is_finite() {
        return if v == 0.0 { "0".into() } else { v.to_string() };
    }
    let p = precision.max(1);
    // The exponent after rounding to p digits, as %e would print it.
    let e_form = format!("{:.*e}", p - 1, v);
    let (mantissa, exp) = e_form.split_once('e').unwrap_or((&e_form, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if exp < -4 || exp >= p as i32 {
        let m = trim_zeros(mantissa);
        let sign = if exp < 0 { '-' } else { '+' };
        return format!("{m}e{sign}{:02}", exp.abs());
    }
    let decimals = (p as i32 - 1 - exp).max(0) as usize;
    trim_zeros(&format!("{v:.decimals$}")).to_string()
}

fn trim_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_print_as_go_units_prints_them() {
        assert_eq!(human_size(0), "0B");
        assert_eq!(human_size(999), "999B");
        assert_eq!(human_size(1_040), "1.04kB");
        assert_eq!(human_size(1_980_000), "1.98MB");
        assert_eq!(human_size(2_000_000), "2MB");
        assert_eq!(human_size(123_456_789), "123MB");
        // Go's %.3g of 999.6 rounds into the exponent form.
        assert_eq!(human_size(999_600), "1e+03kB");
        assert_eq!(bytes_size(880 * 1024), "880KiB");
        assert_eq!(bytes_size(0), "0B");
        assert_eq!(bytes_size(25_275_000_000), "23.54GiB");
        assert_eq!(bytes_size(1536), "1.5KiB");
        assert_eq!(go_g(0.0001234, 3), "0.000123");
        assert_eq!(go_g(0.00001234, 3), "1.23e-05");
    }
}
