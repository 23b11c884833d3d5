/**
 * The most common passwords of public breach corpora (the head of the
 * SecLists / "have i been pwned" top lists, with keyboard walks, digit runs
 * and words of this product added), lower case. Registration refuses any of
 * them, compared case-insensitively, whatever the minimum length.
 */
const list = `
!qaz2wsx 0000 000000 00000000 0000000000 0987654321 1029384756 11111 111111 11111111 1111111111 111111111111
111222 112233 112233445566 12121212 1212121212 123123 123123123 123123123123 123321 1234 12344321 12345 123456
123456123456 1234567 12345678 123456789 1234567890 123456789012 1234567890a 1234567891 12345678910 123456789a
1234abcd 1234qwer 123654 123abc 123qwe 123qweasd 123qweasdzxc 131313 147258369 147852369 159357 159753
159753456 1q2w3e 1q2w3e4r 1q2w3e4r5 1q2w3e4r5t 1q2w3e4r5t6y 1q2w3e4r5t6y7u8i9o0p 1qaz!qaz 1qaz2wsx
1qaz2wsx3edc 1qaz2wsx3edc4rfv 1qazxsw2 222222 232323 27653 333333 555555 654321 741852963 777777 789456123
8675309 87654321 888888 88888888 963852741 987654 987654321 999999 a123456 a12345678 a123456789 a1234567890
aa123456 aaaaaa abc123 abc12345 abc123456 abcd1234 abcdef abcdefg abcdefgh abcdefghij access adidas admin
admin123 admin1234 administrator administrator1 amanda andrea andrew android angel anthony apple123 arsenal
asd123 asdasd asdf1234 asdfasdf asdfgh asdfghjk asdfghjkl asdfghjkl123 ashley austin azerty azerty123
azertyuiop babygirl badboy bailey banana barcelona barney baseball baseball1 batman batman123 bigboy bigdog
blahblah blessed booboo boomer boston brandon brandy bulldog buster butterfly camaro casper changeit changeme
changeme123 charles charlie charlie1 cheese chelsea chester chicago chicken chocolate chris cocacola coffee
compaq computer computer1 cookie corvette cowboy cowboys crystal dakota dallas daniel default diablo diamond
dragon dragon123 eagles edward email enter facebook falcon fender ferrari fishing flower football football1
football123 forever fortnite freedom gandalf gateway george gfhjkm ghbdtn ginger godisgood golden golfer
google guest guitar hammer hannah harley heather hello hello123 hellohello helloworld hockey hunter iceman
iloveu iloveyou iloveyou! iloveyou1 iloveyou123 iloveyou2 instagram internet internet1 iphone ironman jackson
james jasmine jasper jennifer jessica jessica1 jesus jesus1 jesuschrist johnny jordan jordan23 joseph joshua
junior justin juventus klaster knight lakers letmein letmein! letmein1 letmein123 letmein2 letmeinnow linkedin
liverpool london love lovelove lovely loveyou maggie mail mail-helper mailhelper mailhelper123 manchester
marina marine marlboro martin master master123 matrix matthew maverick maxwell melissa mercedes merlin michael
michael1 michelle michelle1 mickey microsoft midnight miller minecraft mobilemail money monkey monkey123
monster morgan mother mustang mypassword mypassword1 naruto nascar natasha ncc1701 nicole nikita nothing
oliver orange p@ssw0rd p@ssw0rd1 p@ssw0rd123 p@ssword pa$$w0rd pa$$word pa55word pass passw0rd passw0rd!
passw0rd1 password password01 password1 password1! password12 password123 password1234 password12345 password2
passwordpassword patrick peanut pepper phoenix player please pokemon porsche prince princess princess1
princess123 purple q1w2e3r4 q1w2e3r4t5 q1w2e3r4t5y6 q1w2e3r4t5y6u7i8o9p0 qazwsx qazwsxedc qazwsxedcrfv qwe123
qweasd qweasdzxc qweqwe qwer1234 qwerty qwerty1 qwerty12 qwerty123 qwerty1234 qwerty12345 qwerty123456 qwertyu
qwertyui qwertyuiop qwertyuiop123 qwertzuiop rabbit rachel raiders ranger rangers redsox richard robert root
samantha samsung samsung123 scooby scooter secret secret123 secretpassword security shadow shadow123 silver
slayer smokey snoopy soccer soccer123 sparky spider spiderman starlight starwars starwars123 steelers steven
summer sunflower sunshine sunshine1 sunshine123 superman superman123 sweetheart taylor tennis test thomas
thunder tigers tigger toor trustme trustno1 twitter victoria welcome welcome1 welcome1! welcome123 welcome2024
welcome2025 welcome2026 welcomewelcome whatever whatever1 william winner winter wizard xxxxxx yamaha yankees
yellow youtube zaq12wsx zaq12wsxcde3 zaq1zaq1 zxc123 zxcvbn zxcvbnm zxcvbnm1 zxcvbnm123 zxczxc
`

export const commonPasswords: ReadonlySet<string> = new Set(list.split(/\s+/).filter((word) => word.length > 0))
