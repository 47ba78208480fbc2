//! `cargo xtask image`.

use boot::image::Firmware;

use crate::build;
use crate::cli::ImageArgs;

pub fn image(args: &ImageArgs) -> Result<(), String> {
    let script = build::startup_script(args.script.as_deref(), args.exec.as_deref())?;
    let (elf, set) = build::images(
        args.profile.release(),
        args.kernel.as_deref(),
        script.as_deref(),
        &[Firmware::Bios, Firmware::Uefi],
    )?;
    println!("kernel: {}", elf.display());
    for fw in [Firmware::Bios, Firmware::Uefi] {
        if let Some(p) = set.get(fw) {
            println!("{}: {}", fw.name(), p.display());
        }
    }
    Ok(())
}
