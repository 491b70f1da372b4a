package inspector

import (
	"encoding/base64"
	"slices"
	"strconv"
	"strings"

	"github.com/tributary-sec/tributary/internal/simulator/simctl"
)

// vpc is a network that EC2 instances and Lambda functions of a region live in.
type vpc struct {
	id, igw, acl string
	subnets      []string
	octet        int // second octet of 10.x.0.0/16; 0 for the default 172.31.0.0/16
}

// newVPC invents a VPC with its internet gateway, network ACL and subnets.
func (rg *regionGen) newVPC(i int) vpc {
	v := vpc{id: "vpc-0" + hexString(rg.rng, 16), igw: "igw-0" + hexString(rg.rng, 16), acl: "acl-0" + hexString(rg.rng, 16), octet: i}
	for range 3 {
		v.subnets = append(v.subnets, "subnet-0"+hexString(rg.rng, 16))
	}
	return v
}

// newAsset invents an asset of a resource type and appends it to the dataset.
func (rg *regionGen) newAsset(rtype uint8) int32 {
	rng := rg.rng
	as := asset{rtype: rtype}
	switch rtype {
	case resEC2:
		rg.ec2(&as)
	case resECR:
		rg.ecr(&as)
	default:
		rg.lambda(&as)
	}
	for c := 0; c < as.ncats; c++ {
		as.start[c] = uint32(rng.IntN(catalogSize))
		as.stride[c] = uint32(1 + rng.IntN(catalogSize-1))
	}
	rg.d.assets = append(rg.d.assets, as)
	return int32(len(rg.d.assets) - 1)
}

// appendResourceHead opens the resources array of an asset fragment.
func appendResourceHead(b []byte, detailsKey string) []byte {
	b = append(b, `"resources":[{"details":{"`...)
	b = append(b, detailsKey...)
	return append(b, `":{`...)
}

// appendResourceTail closes an asset fragment: id, partition, region, tags, type.
func (rg *regionGen) appendResourceTail(b []byte, as *asset) []byte {
	b = trimComma(b)
	b = append(b, "}},"...)
	b = appendStringMember(b, "id", as.id)
	b = appendStringMember(b, "partition", "aws")
	b = appendStringMember(b, "region", rg.d.region)
	if len(as.tags) > 0 {
		b = append(b, `"tags":{`...)
		for i, t := range as.tags {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendKey(b, t.key)
			b = simctl.AppendString(b, t.value)
		}
		b = append(b, "},"...)
	}
	b = appendKey(b, "type")
	b = simctl.AppendString(b, resourceTypeNames[as.rtype])
	return append(b, "}]}"...)
}

func (rg *regionGen) ec2(as *asset) {
	rng := rg.rng
	as.id = "i-0" + hexString(rng, 16)
	as.platform = pickWeighted(rng, ec2Platforms)
	as.cats[0], as.ncats = int8(osEcosystem(as.platform)), 1
	as.since = rg.now - 7*day - rng.Int64N(2*365*day)
	v := pick(rng, rg.vpcs)
	as.vpcID, as.subnetID, as.igwID, as.aclID = v.id, pick(rng, v.subnets), v.igw, v.acl
	as.sgID, as.eniID = "sg-0"+hexString(rng, 16), "eni-0"+hexString(rng, 16)
	amis := rg.amis[as.platform]
	if len(amis) == 0 || (len(amis) < 4 && rng.IntN(3) == 0) {
		amis = append(amis, "ami-0"+hexString(rng, 16))
		rg.amis[as.platform] = amis
	}
	as.imageID = pick(rng, amis)
	instanceType := pick(rng, ec2Types)
	if rng.IntN(6) == 0 && as.platform != "WINDOWS_SERVER_2022" {
		instanceType = pick(rng, ec2ArmTypes)
	}
	env := pick(rng, environments)
	if rng.IntN(10) != 0 {
		as.tags = append(as.tags, tag{"Name", pick(rng, ec2Roles) + "-" + env + "-" + twoDigits(1+rng.IntN(40))})
	}
	if rng.IntN(10) < 7 {
		as.tags = append(as.tags, tag{"Environment", env})
	}
	if rng.IntN(10) < 4 {
		as.tags = append(as.tags, tag{"Team", pick(rng, teams)})
	}
	if rng.IntN(5) == 0 {
		as.tags = append(as.tags, tag{"aws:autoscaling:groupName", pick(rng, ec2Roles) + "-" + env + "-asg"})
	}
	slices.SortFunc(as.tags, func(a, b tag) int { return strings.Compare(a.key, b.key) })

	b := appendResourceHead(make([]byte, 0, 1024), "awsEc2Instance")
	if rng.IntN(10) < 6 {
		b = appendStringMember(b, "iamInstanceProfileArn", "arn:aws:iam::"+rg.account+":instance-profile/"+pick(rng, ec2Profiles))
	}
	b = appendStringMember(b, "imageId", as.imageID)
	private := "172.31." + strconv.Itoa(rng.IntN(256)) + "." + strconv.Itoa(1+rng.IntN(254))
	if v.octet > 0 {
		private = "10." + strconv.Itoa(v.octet) + "." + strconv.Itoa(rng.IntN(256)) + "." + strconv.Itoa(1+rng.IntN(254))
	}
	ipv4 := []string{private}
	if rng.IntN(10) < 3 {
		ipv4 = append(ipv4, strconv.Itoa(pick(rng, publicPrefixes))+"."+strconv.Itoa(rng.IntN(256))+"."+strconv.Itoa(rng.IntN(256))+"."+strconv.Itoa(1+rng.IntN(254)))
	}
	b = appendKey(b, "ipV4Addresses")
	b = appendStrings(b, ipv4)
	b = append(b, ',')
	var ipv6 []string
	if rng.IntN(100) < 15 {
		ipv6 = append(ipv6, "2600:1f18:"+hexString(rng, 4)+":"+hexString(rng, 4)+":"+hexString(rng, 4)+":"+hexString(rng, 4)+":"+hexString(rng, 4)+":"+hexString(rng, 4))
	}
	b = appendKey(b, "ipV6Addresses")
	b = appendStrings(b, ipv6)
	b = append(b, ',')
	if rng.IntN(10) < 7 {
		b = appendStringMember(b, "keyName", pick(rng, ec2KeyNames))
	}
	b = appendKey(b, "launchedAt")
	b = appendEpoch(b, as.since/1000*1000)
	b = append(b, ',')
	b = appendStringMember(b, "platform", as.platform)
	b = appendStringMember(b, "subnetId", as.subnetID)
	b = appendStringMember(b, "type", instanceType)
	b = appendStringMember(b, "vpcId", as.vpcID)
	as.frag = slices.Clip(rg.appendResourceTail(b, as))
}

func (rg *regionGen) ecr(as *asset) {
	rng := rg.rng
	team, service := pick(rng, teams), pick(rng, ecrServices)
	as.repo = team + "/" + service
	as.imageHash = "sha256:" + hexString(rng, 64)
	as.id = "arn:aws:ecr:" + rg.d.region + ":" + rg.account + ":repository/" + as.repo + "/" + as.imageHash
	as.platform = pickWeighted(rng, ecrPlatforms)
	as.cats[0], as.cats[1], as.ncats = int8(osEcosystem(as.platform)), int8(pick(rng, ecrLangs)), 2
	as.pushedAt = (rg.now - day - rng.Int64N(540*day)) / 1000 * 1000
	as.since = as.pushedAt
	as.arch = "amd64"
	if rng.IntN(5) == 0 {
		as.arch = "arm64"
	}
	switch n := rng.IntN(100); {
	case n < 45:
		as.imageTags = []string{strconv.Itoa(rng.IntN(4)) + "." + strconv.Itoa(rng.IntN(20)) + "." + strconv.Itoa(rng.IntN(15))}
	case n < 70:
		as.imageTags = []string{strconv.Itoa(1+rng.IntN(3)) + "." + strconv.Itoa(rng.IntN(20)) + "." + strconv.Itoa(rng.IntN(15)), "latest"}
	case n < 85:
		as.imageTags = []string{"main-" + hexString(rng, 7)}
	}
	if rng.IntN(10) < 8 {
		as.tags = append(as.tags, tag{"Name", service}, tag{"team", team})
	}
	as.inUseCount = rng.IntN(13)
	if as.inUseCount > 0 {
		as.lastInUseAt = (rg.now - rng.Int64N(3*day)) / 1000 * 1000
	}

	b := appendResourceHead(make([]byte, 0, 768), "awsEcrContainerImage")
	b = appendStringMember(b, "architecture", as.arch)
	b = appendStringMember(b, "author", pick(rng, ecrAuthors))
	b = appendStringMember(b, "imageHash", as.imageHash)
	b = appendKey(b, "imageTags")
	b = appendStrings(b, as.imageTags)
	b = append(b, ',')
	b = appendKey(b, "inUseCount")
	b = strconv.AppendInt(b, int64(as.inUseCount), 10)
	b = append(b, ',')
	if as.lastInUseAt > 0 {
		b = appendKey(b, "lastInUseAt")
		b = appendEpoch(b, as.lastInUseAt)
		b = append(b, ',')
	}
	b = appendStringMember(b, "platform", as.platform)
	b = appendKey(b, "pushedAt")
	b = appendEpoch(b, as.pushedAt)
	b = append(b, ',')
	b = appendStringMember(b, "registry", rg.account)
	b = appendStringMember(b, "repositoryName", as.repo)
	as.frag = slices.Clip(rg.appendResourceTail(b, as))
}

func (rg *regionGen) lambda(as *asset) {
	rng := rg.rng
	env := pick(rng, environments)
	base := pick(rng, lambdaNames) + "-" + env
	rg.lambdas[base]++
	as.function = base
	if n := rg.lambdas[base]; n > 1 {
		as.function = base + "-" + strconv.Itoa(n)
	}
	as.id = "arn:aws:lambda:" + rg.d.region + ":" + rg.account + ":function:" + as.function + ":$LATEST"
	as.runtime = pickWeighted(rng, lambdaRuntimes)
	eco, _ := runtimeEcosystem(as.runtime)
	as.cats[0], as.ncats = int8(eco), 1
	as.lastModified = (rg.now - day - rng.Int64N(365*day)) / 1000 * 1000
	as.since = as.lastModified - rng.Int64N(30*day)
	if rng.IntN(2) == 0 {
		as.roleARN = "arn:aws:iam::" + rg.account + ":role/service-role/" + as.function + "-role-" + strings.ToLower(hexString(rng, 8))
	} else {
		as.roleARN = "arn:aws:iam::" + rg.account + ":role/lambda-" + pick(rng, teams) + "-exec"
	}
	if rng.IntN(10) < 3 {
		as.layers = append(as.layers, "arn:aws:lambda:"+rg.d.region+":"+rg.account+":layer:"+pick(rng, lambdaLayers)+":"+strconv.Itoa(1+rng.IntN(30)))
	}
	if rng.IntN(10) < 6 {
		as.tags = append(as.tags, tag{"env", env}, tag{"team", pick(rng, teams)})
	}
	code := make([]byte, 32)
	for i := range code {
		code[i] = byte(rng.Uint32())
	}

	b := appendResourceHead(make([]byte, 0, 1024), "awsLambdaFunction")
	arch := "X86_64"
	if rng.IntN(4) == 0 {
		arch = "ARM64"
	}
	b = append(b, `"architectures":["`...)
	b = append(b, arch...)
	b = append(b, `"],`...)
	b = appendStringMember(b, "codeSha256", base64.StdEncoding.EncodeToString(code))
	b = appendStringMember(b, "executionRoleArn", as.roleARN)
	b = appendStringMember(b, "functionName", as.function)
	b = appendKey(b, "lastModifiedAt")
	b = appendEpoch(b, as.lastModified)
	b = append(b, ',')
	if len(as.layers) > 0 {
		b = appendKey(b, "layers")
		b = appendStrings(b, as.layers)
		b = append(b, ',')
	}
	b = appendStringMember(b, "packageType", "ZIP")
	b = appendStringMember(b, "runtime", as.runtime)
	b = appendStringMember(b, "version", "$LATEST")
	if rng.IntN(10) < 4 {
		v := pick(rng, rg.vpcs)
		as.vpcID, as.subnetID = v.id, pick(rng, v.subnets)
		b = append(b, `"vpcConfig":{"securityGroupIds":["sg-0`...)
		b = appendHex(b, rng.Uint64(), 16)
		b = append(b, `"],"subnetIds":["`...)
		b = append(b, as.subnetID...)
		b = append(b, `"],"vpcId":"`...)
		b = append(b, v.id...)
		b = append(b, `"},`...)
	}
	as.frag = slices.Clip(rg.appendResourceTail(b, as))
}

// twoDigits formats 1..99 as two digits.
func twoDigits(n int) string {
	if n < 10 {
		return "0" + strconv.Itoa(n)
	}
	return strconv.Itoa(n)
}
