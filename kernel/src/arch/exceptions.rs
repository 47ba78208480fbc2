//! CPU exception handlers.
//!
//! Nothing in this kernel expects an exception, so every one of them is
//! fatal: the handler reports it on the serial line in one fixed format and
//! exits QEMU with [`qemu_exit::EXCEPTION`]:
//!
//! ```text
//! EXCEPTION: page fault (vector 14) error=0x0 rip=0xffff80000012abcd cr2=0x7dead0000000
//!   cs=0x8 ss=0x10 rsp=0x... rflags=0x...
//!   on cpu0
//! ```
//!
//! If another CPU is already reporting a panic or an exception, this one
//! halts instead (that CPU ends the VM).

use super::{gdt, qemu_exit};
use crate::console;
use core::fmt::Write;
use x86_64::registers::control::Cr2;
use x86_64::structures::idt::{InterruptDescriptorTable, InterruptStackFrame, PageFaultErrorCode};

/// Prints the report for one exception and leaves QEMU.
fn report(
    vector: u8,
    name: &str,
    error: Option<u64>,
    frame: &InterruptStackFrame,
    cr2: Option<u64>,
) -> ! {
    if let crate::panic::Reporter::Other = crate::panic::claim_report() {
        super::cpu::halt_forever();
    }
    let mut out = console::emergency();
    let _ = write!(out, "\nEXCEPTION: {name} (vector {vector}) error=");
    let _ = match error {
        Some(code) => write!(out, "{code:#x}"),
        None => write!(out, "none"),
    };
    let _ = write!(out, " rip={:#x}", frame.instruction_pointer.as_u64());
    if let Some(cr2) = cr2 {
        let _ = write!(out, " cr2={cr2:#x}");
    }
    let _ = writeln!(
        out,
        "\n  cs={:#x} ss={:#x} rsp={:#x} rflags={:#x}",
        frame.code_segment.0,
        frame.stack_segment.0,
        frame.stack_pointer.as_u64(),
        frame.cpu_flags.bits()
    );
    let _ = writeln!(out, "  on cpu{}", super::percpu::index());
    qemu_exit::exit(qemu_exit::EXCEPTION)
}

/// Defines one `extern "x86-interrupt"` handler per exception; the vector and
/// name are baked in because the CPU does not tell a handler its vector.
macro_rules! handler {
    ($fn:ident, $vector:literal, $name:literal) => {
        extern "x86-interrupt" fn $fn(frame: InterruptStackFrame) {
            report($vector, $name, None, &frame, None)
        }
    };
    ($fn:ident, $vector:literal, $name:literal, error) => {
        extern "x86-interrupt" fn $fn(frame: InterruptStackFrame, error: u64) {
            report($vector, $name, Some(error), &frame, None)
        }
    };
    ($fn:ident, $vector:literal, $name:literal, diverging) => {
        extern "x86-interrupt" fn $fn(frame: InterruptStackFrame) -> ! {
            report($vector, $name, None, &frame, None)
        }
    };
    ($fn:ident, $vector:literal, $name:literal, diverging error) => {
        extern "x86-interrupt" fn $fn(frame: InterruptStackFrame, error: u64) -> ! {
            report($vector, $name, Some(error), &frame, None)
        }
    };
}

handler!(divide_error, 0, "divide error");
handler!(debug, 1, "debug");
handler!(nmi, 2, "non-maskable interrupt");
handler!(breakpoint, 3, "breakpoint");
handler!(overflow, 4, "overflow");
handler!(bound_range, 5, "bound range exceeded");
handler!(invalid_opcode, 6, "invalid opcode");
handler!(device_not_available, 7, "device not available");
handler!(double_fault, 8, "double fault", diverging error);
handler!(invalid_tss, 10, "invalid TSS", error);
handler!(segment_not_present, 11, "segment not present", error);
handler!(stack_segment, 12, "stack-segment fault", error);
handler!(general_protection, 13, "general protection", error);
handler!(x87_floating_point, 16, "x87 floating-point");
handler!(alignment_check, 17, "alignment check", error);
handler!(machine_check, 18, "machine check", diverging);
handler!(simd_floating_point, 19, "SIMD floating-point");
handler!(virtualization, 20, "virtualization");
handler!(control_protection, 21, "control protection", error);
handler!(hypervisor_injection, 28, "hypervisor injection");
handler!(vmm_communication, 29, "VMM communication", error);
handler!(security, 30, "security", error);

extern "x86-interrupt" fn page_fault(frame: InterruptStackFrame, error: PageFaultErrorCode) {
    report(
        14,
        "page fault",
        Some(error.bits()),
        &frame,
        Some(Cr2::read_raw()),
    )
}

/// Points every exception gate the architecture defines at its handler.
/// (Vectors 9, 15, 22-27 and 31 are reserved and never raised.)
pub fn install(idt: &mut InterruptDescriptorTable) {
    idt.divide_error.set_handler_fn(divide_error);
    idt.debug.set_handler_fn(debug);
    idt.breakpoint.set_handler_fn(breakpoint);
    idt.overflow.set_handler_fn(overflow);
    idt.bound_range_exceeded.set_handler_fn(bound_range);
    idt.invalid_opcode.set_handler_fn(invalid_opcode);
    idt.device_not_available
        .set_handler_fn(device_not_available);
    idt.invalid_tss.set_handler_fn(invalid_tss);
    idt.segment_not_present.set_handler_fn(segment_not_present);
    idt.stack_segment_fault.set_handler_fn(stack_segment);
    idt.general_protection_fault
        .set_handler_fn(general_protection);
    idt.page_fault.set_handler_fn(page_fault);
    idt.x87_floating_point.set_handler_fn(x87_floating_point);
    idt.alignment_check.set_handler_fn(alignment_check);
    idt.machine_check.set_handler_fn(machine_check);
    idt.simd_floating_point.set_handler_fn(simd_floating_point);
    idt.virtualization.set_handler_fn(virtualization);
    idt.cp_protection_exception
        .set_handler_fn(control_protection);
    idt.hv_injection_exception
        .set_handler_fn(hypervisor_injection);
    idt.vmm_communication_exception
        .set_handler_fn(vmm_communication);
    idt.security_exception.set_handler_fn(security);
    // SAFETY: the IST indices name stacks that gdt::init() installed in the
    // TSS before this IDT is loaded, and no other handler uses them.
    unsafe {
        idt.double_fault
            .set_handler_fn(double_fault)
            .set_stack_index(gdt::DOUBLE_FAULT_IST);
        idt.non_maskable_interrupt
            .set_handler_fn(nmi)
            .set_stack_index(gdt::NMI_IST);
    }
}
