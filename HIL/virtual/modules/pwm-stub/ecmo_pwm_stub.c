// SPDX-License-Identifier: GPL-2.0
/*
 * ecmo_pwm_stub: a one-channel PWM chip for the virtual-board lane (HIL/virtual), so that
 * ecmo-rig's sysfs PWM code (export, period/duty ordering, enable, polarity) runs against
 * the kernel's real PWM core and sysfs, which enforce the rules (a duty cycle longer than
 * the period is refused). What the "hardware" was last told is shown read-only under
 * /sys/module/ecmo_pwm_stub/parameters/{period_ns,duty_ns,enabled,applies}.
 */
#include <linux/module.h>
#include <linux/platform_device.h>
#include <linux/pwm.h>

static ulong period_ns, duty_ns;
static int enabled;
static uint applies;
module_param(period_ns, ulong, 0444);
module_param(duty_ns, ulong, 0444);
module_param(enabled, int, 0444);
module_param(applies, uint, 0444);

static int stub_apply(struct pwm_chip *chip, struct pwm_device *pwm, const struct pwm_state *state)
{
	if (state->duty_cycle > state->period)
		return -EINVAL;
	period_ns = state->period;
	duty_ns = state->duty_cycle;
	enabled = state->enabled;
	applies++;
	return 0;
}

static const struct pwm_ops stub_ops = {
	.apply = stub_apply,
	.owner = THIS_MODULE,
};

static struct platform_device *pdev;
static struct pwm_chip chip = {
	.ops = &stub_ops,
	.npwm = 1,
	.base = -1,
};

static int __init stub_init(void)
{
	int ret;
	pdev = platform_device_register_simple("ecmo-pwm-stub", -1, NULL, 0);
	if (IS_ERR(pdev))
		return PTR_ERR(pdev);
	chip.dev = &pdev->dev;
	ret = pwmchip_add(&chip);
	if (ret)
		platform_device_unregister(pdev);
	return ret;
}

static void __exit stub_exit(void)
{
	pwmchip_remove(&chip);
	platform_device_unregister(pdev);
}

module_init(stub_init);
module_exit(stub_exit);
MODULE_DESCRIPTION("One-channel PWM chip for the ecmo-rig virtual board");
MODULE_LICENSE("GPL");
