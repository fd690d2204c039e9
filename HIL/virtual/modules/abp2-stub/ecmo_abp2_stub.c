// SPDX-License-Identifier: GPL-2.0
/*
 * ecmo_abp2_stub: an I2C adapter that plays Honeywell ABP2 pressure sensors, for the
 * virtual-board lane (HIL/virtual). i2c-stub is SMBus-only; the ABP2 needs plain I2C
 * (a 3-byte command, then a 7-byte read), i.e. I2C_RDWR. This adapter serves it.
 *
 *   addrs=0x28,0x38,0x58      the sensors' addresses (up to 4)
 *   counts=N,N,N              24-bit pressure counts each answers (writable at run time
 *                             under /sys/module/ecmo_abp2_stub/parameters/counts: the
 *                             bridge plays the plant)
 *   busy_reads=0              reads answered "busy" after each command (status bit 5)
 *   nak_mask=0                bit i set: the sensor at addrs[i] stops acknowledging
 *                             (-ENXIO on every transfer: unplugged, or a NAK burst);
 *                             writable at run time, like counts
 *   status_or=0,0,0           bits ORed into each sensor's status byte (0x04 memory
 *                             error, 0x01 math saturation): status-bit faults
 *
 * A read before any command answers status 0x40 too. Unknown addresses NAK (-ENXIO).
 */
#include <linux/i2c.h>
#include <linux/module.h>
#include <linux/slab.h>

#define MAX_SENSORS 4
static unsigned short addrs[MAX_SENSORS] = { 0x28, 0x38, 0x58 };
static int n_addrs = 3;
module_param_array(addrs, ushort, &n_addrs, 0444);
MODULE_PARM_DESC(addrs, "ABP2 addresses");
static uint counts[MAX_SENSORS] = { 8388608, 8388608, 8388608, 8388608 };
static int n_counts = MAX_SENSORS;
module_param_array(counts, uint, &n_counts, 0644);
MODULE_PARM_DESC(counts, "24-bit pressure counts per sensor");
static uint busy_reads;
module_param(busy_reads, uint, 0644);
static uint nak_mask;
module_param(nak_mask, uint, 0644);
MODULE_PARM_DESC(nak_mask, "bit i: the sensor at addrs[i] does not acknowledge");
static uint status_or[MAX_SENSORS];
static int n_status_or = MAX_SENSORS;
module_param_array(status_or, uint, &n_status_or, 0644);
MODULE_PARM_DESC(status_or, "bits ORed into each sensor's status byte");
static uint commands;
module_param(commands, uint, 0444);
MODULE_PARM_DESC(commands, "measurement commands received (all sensors)");

static uint busy_left[MAX_SENSORS];

static int find(u16 addr)
{
	int i;
	for (i = 0; i < n_addrs && i < MAX_SENSORS; i++)
		if (addrs[i] == addr)
			return i;
	return -1;
}

static int stub_xfer(struct i2c_adapter *adap, struct i2c_msg *msgs, int num)
{
	int m;
	for (m = 0; m < num; m++) {
		struct i2c_msg *msg = &msgs[m];
		int i = find(msg->addr);
		if (i < 0 || (READ_ONCE(nak_mask) & (1u << i)))
			return -ENXIO;
		if (!(msg->flags & I2C_M_RD)) {
			if (msg->len >= 1 && msg->buf[0] == 0xAA) {
				busy_left[i] = busy_reads;
				commands++;
			}
		} else {
			u32 c = counts[i] & 0xFFFFFF, t = 0x600000; /* about 25 degC */
			u8 answer[7] = { 0x40 | (status_or[i] & 0x1F), c >> 16, c >> 8, c, t >> 16, t >> 8, t };
			int k;
			if (busy_left[i]) {
				busy_left[i]--;
				answer[0] |= 0x20;
			}
			for (k = 0; k < msg->len; k++)
				msg->buf[k] = k < 7 ? answer[k] : 0;
		}
	}
	return num;
}

static u32 stub_func(struct i2c_adapter *adap)
{
	return I2C_FUNC_I2C;
}

static const struct i2c_algorithm stub_algorithm = {
	.master_xfer = stub_xfer,
	.functionality = stub_func,
};

static struct i2c_adapter stub_adapter = {
	.owner = THIS_MODULE,
	.class = I2C_CLASS_HWMON,
	.algo = &stub_algorithm,
	.name = "ECMO ABP2 stub",
};

static int __init stub_init(void)
{
	return i2c_add_adapter(&stub_adapter);
}

static void __exit stub_exit(void)
{
	i2c_del_adapter(&stub_adapter);
}

module_init(stub_init);
module_exit(stub_exit);
MODULE_DESCRIPTION("I2C adapter playing Honeywell ABP2 sensors (ecmo-rig virtual board)");
MODULE_LICENSE("GPL");
