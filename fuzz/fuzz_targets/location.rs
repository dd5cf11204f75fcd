//! Any text as a deep-zoom location: a centre, a zoom, a size and a limit, as a command line
//! (and later a web page) hands them over. A clear refusal or a checked view, never a panic:
//! a number read is written back to the same bits, a view by centre has the centre as its
//! middle pixel, and the automatic format is one the view is made in.
#![no_main]
use fixedbrot_core::{Fixed, Format, View, Width, Zoom};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (&str, &str, u8, u16, u16, u32)| {
    let (centre, zoom, limbs, width, height, limit) = input;
    let format = Width::from_bits(32 * u32::from(limbs % 8 + 3)).expect("96 to 320 bits");
    if let Some((re, _)) = centre.split_once(',') {
        if let Some(number) = Fixed::from_decimal(format, re) {
            let written = number.to_string();
            assert_eq!(
                Fixed::from_decimal(format, &written),
                Some(number),
                "{written}"
            );
        }
    }
    let Some(zoom) = Zoom::parse(zoom) else {
        return;
    };
    assert_eq!(Zoom::parse(&zoom.to_string()), Some(zoom), "{zoom}");
    let (width, height) = (u32::from(width), u32::from(height));
    if let Ok(auto) = Format::for_zoom(&zoom, height.max(1), limit) {
        // The automatic format resolves the view, if the view is in range at all.
        match View::from_centre(auto, centre, &zoom, width, height.max(1)) {
            Err(fixedbrot_core::JobError::UnresolvableY) => panic!("{auto} does not resolve it"),
            _ => {}
        }
    }
    let wide = Format::Wide(format);
    if let Ok(view) = View::from_centre(wide, centre, &zoom, width, height) {
        let (re, im) = centre.split_once(',').expect("a centre read has a comma");
        let middle = view.point(width / 2, height / 2);
        assert_eq!(Some(middle.re), Fixed::from_decimal(format, re));
        assert_eq!(Some(middle.im), Fixed::from_decimal(format, im));
        assert_eq!(view.check(wide, width, height), Ok(()));
    }
    for narrow in [Format::I4F28, Format::I4F60] {
        if let Ok(view) = View::from_centre(narrow, centre, &zoom, width, height) {
            assert_eq!(view.check(narrow, width, height), Ok(()));
        }
    }
});
